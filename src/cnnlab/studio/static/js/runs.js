// The runs view: the list of runs; for the chosen one its learning curves (re-polled every 2 s
// while it trains), its metrics, the confusion matrix (click a cell for its images) and the top
// losses with their Grad-CAM.

import { getJSON, runPath } from "./api.js";
import { confusionMatrix } from "./charts.js";
import { curvesCard, drawCurves } from "./compare.js";
import { $, h, clear } from "./dom.js";
import { emptyRunsMessage } from "./empty.js";
import { changed, explorerHref } from "./links.js";
import { guard, showError } from "./status.js";

const POLL_MS = 2000;
const state = { runs: [], broken: [], chosen: null, timer: null, seq: 0, visible: false, epochs: null };

const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const num = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(4));

export function setRuns(runs, runsDir, broken = []) {
  state.runs = runs;
  state.broken = broken;
  $("#runs-empty").hidden = runs.length > 0;
  $("#runs-body").hidden = runs.length === 0;
  if (!runs.length) emptyRunsMessage($("#runs-empty"), runsDir, "show");
  renderList();
}

function renderList() {
  const host = clear($("#run-list"));
  host.append(h("h3", {}, "Runs"));
  state.runs.forEach((run) => {
    const item = h(
      "button",
      {
        type: "button",
        class: `run-item${run.name === state.chosen ? " chosen" : ""}`,
        "data-testid": "run-item",
        "data-name": run.name,
      },
      h("span", { class: "run-name" }, h("span", { class: "run-title", title: run.name, "data-testid": "run-title" }, run.name), run.training ? h("span", { class: "live", title: "training now" }, "training") : null),
      h("span", { class: "run-meta" }, run.source === "model" ? `${run.engine} · model file · ${run.data}` : `${run.engine} · ${run.model} · ${run.data} · ${run.epochs_done}/${run.epochs} epochs`),
      h("span", { class: "run-acc" }, run.test_accuracy === null || run.test_accuracy === undefined ? "no test accuracy yet" : `test ${pct(run.test_accuracy)}`),
    );
    item.addEventListener("click", () => choose(run.name));
    host.append(item);
  });
  if (state.broken.length) {
    host.append(
      h("h4", {}, "Unreadable"),
      ...state.broken.map((b) => h("p", { class: "hint broken", title: b.error, "data-testid": "run-broken" }, `${b.name}: ${b.error}`)),
    );
  }
}

export function onShow() {
  state.visible = true;
  if (!state.chosen && state.runs.length) choose(state.runs[0].name);
}

export function onHide() {
  state.visible = false;
}

export function choose(name) {
  state.chosen = name;
  clearTimeout(state.timer);
  [...document.querySelectorAll(".run-item")].forEach((el) => el.classList.toggle("chosen", el.dataset.name === name));
  const main = clear($("#run-main"));
  main.dataset.run = name;
  main.append(
    h("div", { class: "card", id: "run-summary", "data-testid": "run-summary" }, h("p", { class: "hint" }, "Reading the run…")),
    curvesCard(state.runs, name),
    h(
      "div",
      { class: "two" },
      h(
        "div",
        { class: "card" },
        h("h3", {}, "Confusion matrix ", h("span", { class: "muted", id: "confusion-note" })),
        h("div", { id: "confusion-host", class: "confusion-host" }, h("p", { class: "hint" }, "Computing the confusion matrix of the test split…")),
        h("div", { id: "confusion-images", "data-testid": "confusion-images" }),
      ),
      h(
        "div",
        { class: "card" },
        h("h3", {}, "Top losses ", h("span", { class: "muted", id: "top-losses-note" }, "— with Grad-CAM of the model's guess")),
        h("div", { id: "top-losses", class: "top-losses", "data-testid": "top-losses" }, h("p", { class: "hint" }, "Finding the test images with the largest loss…")),
      ),
    ),
  );
  const mine = ++state.seq;
  state.epochs = null;
  guard(() => loadRun(name, mine, true));
  const listed = state.runs.find((r) => r.name === name);
  if (listed && listed.source === "model" && !listed.labelled) {
    // A model file with no labelled images: nothing to measure it on.
    const why = "A model file with no labelled images: start the studio with --data DIR (a folder of class folders) to see this.";
    for (const id of ["#confusion-host", "#top-losses"]) clear($(id)).append(h("p", { class: "hint", "data-testid": "no-labels" }, why));
    return;
  }
  guard(() => loadConfusion(name, mine));
  guard(() => loadTopLosses(name, mine));
  changed("runs");
}

async function loadRun(name, mine, first) {
  let run;
  try {
    run = await getJSON(runPath(name));
  } catch (error) {
    if (mine === state.seq) showError(error);
    run = null;
  }
  if (mine !== state.seq) return;
  if (run) renderRun(run, first);
  const newEpoch = run && !first && state.epochs !== null && run.epochs_done !== state.epochs;
  if (run) state.epochs = run.epochs_done;
  if (run && run.training) {
    if (newEpoch) {
      // A new epoch's checkpoint: its confusion matrix and top losses.
      guard(() => loadConfusion(name, mine));
      guard(() => loadTopLosses(name, mine));
    }
    state.timer = setTimeout(() => loadRun(name, mine, false), POLL_MS);
  } else if (run && !first) {
    // It has just finished: the confusion matrix and top losses are now final.
    guard(() => loadConfusion(name, mine));
    guard(() => loadTopLosses(name, mine));
  }
}

function renderRun(run, first) {
  const summary = $("#run-summary");
  if (!summary) return;
  summary.dataset.epochs = run.epochs_done;
  summary.dataset.training = String(Boolean(run.training));
  const m = run.metrics || {};
  const split = (s) => m[s] || {};
  const table = h(
    "table",
    { class: "metrics", "data-testid": "metrics" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "loss"), h("th", {}, "accuracy"), h("th", {}, "images"))),
    h(
      "tbody",
      {},
      ["train", "validation", "test"].map((s) =>
        h("tr", {}, h("th", {}, s), h("td", {}, num(split(s).loss)), h("td", {}, pct(split(s).accuracy)), h("td", {}, split(s).n ?? "—")),
      ),
    ),
  );
  // append() writes null as the text "null": optional parts are left out, never passed.
  clear(summary).append(
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, run.name),
      ...(run.training ? [h("span", { class: "live", "data-testid": "training-badge" }, `training · epoch ${run.epochs_done} of ${run.epochs}`)] : []),
      h("span", { class: "muted" }, `${run.task} · ${run.engine} engine · ${run.source === "model" ? "model file" : `${run.model} model`} · ${run.data} · ${run.image_size.join("×")}×${run.channels}`),
    ),
    h(
      "div",
      { class: "summary-row" },
      h(
        "div",
        { class: "stats" },
        stat("test accuracy", pct(run.test_accuracy), "stat-test-acc"),
        ...(run.source === "model" ? [] : [stat("epochs", `${run.epochs_done} / ${run.epochs}`, "stat-epochs"), stat("best epoch", run.best_epoch ?? "—", "stat-best")]),
        stat("classes", run.class_names.length, "stat-classes"),
      ),
      run.metrics ? table : h("p", { class: "hint" }, run.source === "model" ? "A model file cnnlab did not train: no training history, no metrics." : "No metrics yet: they are written when training ends."),
    ),
  );
  if (m.validated_on) summary.append(h("p", { class: "hint" }, m.validated_on));
  if (run.source === "model") {
    const card = $('[data-testid="curves-card"]');
    if (card) card.replaceChildren(h("h3", {}, "Learning curves"), h("p", { class: "hint", "data-testid": "no-history" }, "None: a model file has no training history."));
    return;
  }
  drawCurves(run);
  if (!first) {
    // Keep the list in step: epochs done, the training badge, the test accuracy.
    const listed = state.runs.find((r) => r.name === run.name);
    if (listed) Object.assign(listed, { training: run.training, epochs_done: run.epochs_done, test_accuracy: run.test_accuracy });
    renderList();
  }
}

/** Whose predictions these are: a run's model of one epoch, or a model file on --data's images. */
function madeBy(name, answer, split) {
  if (isModelFile(name)) return "the model file, on the images of --data";
  return `${split ? `${answer.split} split, ` : ""}the model of epoch ${answer.epoch}`;
}

const isModelFile = (name) => state.runs.some((r) => r.name === name && r.source === "model");

function stat(label, value, testid) {
  return h("div", { class: "stat", "data-testid": testid }, h("b", {}, String(value)), h("span", {}, label));
}

async function loadConfusion(name, mine) {
  const answer = await getJSON(`${runPath(name)}/confusion`);
  if (mine !== state.seq) return;
  const note = $("#confusion-note");
  note.textContent = `— ${madeBy(name, answer, true)}, accuracy ${pct(answer.accuracy)}; click a cell for its images`;
  note.dataset.epoch = answer.epoch;
  confusionMatrix($("#confusion-host"), answer, (t, p, td) => {
    document.querySelectorAll(".confusion td.picked").forEach((el) => el.classList.remove("picked"));
    td.classList.add("picked");
    guard(() => loadCell(name, answer.class_names, t, p, mine));
  });
}

async function loadCell(name, names, t, p, mine) {
  const host = $("#confusion-images");
  host.dataset.ready = "false";
  const answer = await getJSON(`${runPath(name)}/confusion/${t}/${p}?limit=24`);
  if (mine !== state.seq) return;
  clear(host).append(
    h("h4", {}, `True ${names[t]}, predicted ${names[p]}: ${answer.count} image${answer.count === 1 ? "" : "s"}${answer.count > answer.images.length ? ` (the first ${answer.images.length})` : ""}`),
    h(
      "div",
      { class: "gallery" },
      answer.images.map((img) =>
        h(
          "a",
          { class: "gal-item", href: explorerHref(name, `test:${img.index}`), "data-testid": "confusion-image", "data-run": name, "data-image": `test:${img.index}`, title: `test image ${img.index}: open it in the model explorer` },
          h("img", { src: img.thumb, alt: `test image ${img.index}` }),
          h("span", { class: "caption" }, `#${img.index} · p ${pct(img.p_pred)}`),
        ),
      ),
    ),
  );
  host.dataset.ready = "true";
  host.dataset.true = t;
  host.dataset.pred = p;
}

function lossItem(name, img) {
  const image = `test:${img.index}`;
  return h(
    "figure",
    { class: "loss-item", "data-testid": "top-loss", "data-true": img.true, "data-pred": img.pred, "data-image": image },
    h(
      "a",
      { class: "pair", href: explorerHref(name, image), "data-testid": "top-loss-link", "data-run": name, "data-image": image, title: `test image ${img.index}: open it in the model explorer` },
      h("img", { src: img.thumb, alt: `test image ${img.index}` }),
      img.cam ? h("img", { src: img.cam, alt: "Grad-CAM" }) : "",
    ),
    h(
      "figcaption",
      {},
      h("span", { class: img.true === img.pred ? "ok" : "bad" }, `true ${img.true} · guess ${img.pred}`),
      h("span", { class: "muted" }, `p ${pct(img.p_pred)} · loss ${Number(img.loss).toFixed(2)}`),
    ),
  );
}

async function loadTopLosses(name, mine) {
  const k = 12;
  const answer = await getJSON(`${runPath(name)}/top-losses?k=${k}`);
  if (mine !== state.seq) return;
  const host = clear($("#top-losses"));
  const note = $("#top-losses-note");
  note.textContent = `— ${madeBy(name, answer, false)}, with Grad-CAM of its guess`;
  host.dataset.epoch = answer.epoch;
  if (!answer.wrong.length && !answer.right.length) host.append(h("p", { class: "hint" }, "No test images."));
  if (answer.wrong.length) {
    host.append(
      h("h4", { "data-testid": "top-wrong-title" }, `Most wrong about: ${answer.wrong.length} of the ${answer.n_wrong} misclassified test images`),
      h("div", { class: "loss-group", "data-testid": "top-wrong" }, answer.wrong.map((img) => lossItem(name, img))),
    );
  } else if (answer.right.length) {
    host.append(h("p", { class: "hint", "data-testid": "top-wrong-title" }, "Every test image is classified right."));
  }
  if (answer.right.length) {
    host.append(
      h(
        "h4",
        { "data-testid": "top-right-title" },
        `Right, but least sure about: ${answer.right.length} correct image${answer.right.length === 1 ? "" : "s"} with the largest loss${answer.n_wrong ? ` (only ${answer.n_wrong} misclassified, fewer than ${k})` : ""}`,
      ),
      h("div", { class: "loss-group", "data-testid": "top-right" }, answer.right.map((img) => lossItem(name, img))),
    );
  }
  host.dataset.ready = "true";
}

// ---------- links (runs-link.js) ----------
export const linkView = { runs: () => state.runs, chosen: () => state.chosen, choose };
