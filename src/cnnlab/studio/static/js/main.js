// Start-up: the tabs (#playground, #explorer, #runs), the server's info and runs, the keyboard,
// the link the page was opened with (links.js: the URL holds each view's state), and the
// `data-ready` mark the tests (and the start-up timing) wait for.

import { getJSON } from "./api.js";
import { $, $$ } from "./dom.js";
import * as explorer from "./explorer.js";
import "./explorer-link.js";
import { VIEWS, onViewShown, parseHash, route } from "./links.js";
import * as playground from "./playground.js";
import "./playground-link.js";
import * as runsView from "./runs.js";
import "./runs-link.js";
import { handleKey } from "./stepper.js";
import { guard, hideMessage, showError } from "./status.js";

/** Show one view (links.js opens its state: a link's, or the one it had). */
function showView(name) {
  for (const view of VIEWS) {
    $(`#view-${view}`).hidden = view !== name;
    $(`#tab-${view}`).setAttribute("aria-selected", String(view === name));
  }
  document.body.dataset.view = name;
  if (name !== "runs") runsView.onHide();
}

async function loadRuns() {
  const answer = await getJSON("/api/runs");
  const runs = answer.runs || [];
  playground.setRuns(runs);
  explorer.setRuns(runs, answer.runs_dir);
  runsView.setRuns(runs, answer.runs_dir, answer.broken || []);
  return answer;
}

async function start() {
  $("#message-close").addEventListener("click", hideMessage);
  onViewShown(showView);
  window.addEventListener("hashchange", () => guard(route));
  window.addEventListener("popstate", () => guard(route));
  document.addEventListener("keydown", (event) => {
    const tag = event.target.tagName;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || event.target.isContentEditable) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === " " && tag === "BUTTON") event.target.blur();
    if (handleKey(event)) event.preventDefault();
  });
  playground.prefetchDigits();
  explorer.init();
  try {
    const info = await getJSON("/api/info");
    const models = info.models || [];
    const modelsText = models.length ? ` · ${models.length === 1 ? models[0] : `${models.length} model files`}` : "";
    const runsText = models.length && !info.n_runs ? "" : ` · ${info.n_runs} run${info.n_runs === 1 ? "" : "s"} in ${info.runs_dir}`;
    $("#topinfo").textContent = `v${info.version}${modelsText}${runsText}`;
    await Promise.all([playground.init(info), guard(loadRuns)]);
  } catch (error) {
    showError(error);
  }
  // A link's state is opened before the page says it is ready; a bare view's first image (the
  // explorer's) is not waited for, as before links.
  const routing = guard(route);
  if (Object.keys(parseHash().params).length) await routing;
  document.body.dataset.ready = "true";
  window.studioReadyMs = performance.now();
}

start();

// Exposed for the browser tests and for curious users in the console.
window.studio = { tabs: () => $$(".tabs a").map((a) => a.dataset.view) };
