// Start-up: the tabs (#playground, #explorer, #runs), the server's info and runs, the keyboard,
// and the `data-ready` mark the tests (and the start-up timing) wait for.

import { getJSON } from "./api.js";
import { $, $$ } from "./dom.js";
import * as explorer from "./explorer.js";
import * as playground from "./playground.js";
import * as runsView from "./runs.js";
import { handleKey } from "./stepper.js";
import { guard, hideMessage, showError } from "./status.js";

const VIEWS = ["playground", "explorer", "runs"];

function currentView() {
  const name = location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "playground";
}

function showView() {
  const name = currentView();
  for (const view of VIEWS) {
    $(`#view-${view}`).hidden = view !== name;
    $(`#tab-${view}`).setAttribute("aria-selected", String(view === name));
  }
  document.body.dataset.view = name;
  if (name === "explorer") guard(explorer.onShow);
  if (name === "runs") runsView.onShow();
  else runsView.onHide();
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
  window.addEventListener("hashchange", showView);
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
    $("#topinfo").textContent = `v${info.version} · ${info.n_runs} run${info.n_runs === 1 ? "" : "s"} in ${info.runs_dir}`;
    await Promise.all([playground.init(info), guard(loadRuns)]);
  } catch (error) {
    showError(error);
  }
  showView();
  document.body.dataset.ready = "true";
  window.studioReadyMs = performance.now();
}

start();

// Exposed for the browser tests and for curious users in the console.
window.studio = { tabs: () => $$(".tabs a").map((a) => a.dataset.view) };
