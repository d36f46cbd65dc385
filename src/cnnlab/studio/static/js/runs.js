// The runs view: the list of runs; for the chosen one its learning curves (re-polled every 2 s
// while it trains), its metrics, the confusion matrix (click a cell for its images) and the top
// losses with their Grad-CAM.

import { getJSON, runPath } from "./api.js";
import { lineChart, confusionMatrix, CURVE_COLOURS } from "./charts.js";
import { $, h, clear } from "./dom.js";
import { emptyRunsMessage } from "./empty.js";
import { guard, showError } from "./status.js";

const POLL_MS = 2000;
const state = { runs: [], broken: [], chosen: null, timer: null, seq: 0, visible: false };

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
      h("span", { class: "run-name" }, run.name, run.training ? h("span", { class: "live", title: "training now" }, "training") : null),
      h("span", { class: "run-meta" }, `${run.engine} · ${run.model} · ${run.data} · ${run.epochs_done}/${run.epochs} epochs`),
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

function choose(name) {
  state.chosen = name;
  clearTimeout(state.timer);
  [...document.querySelectorAll(".run-item")].forEach((el) => el.classList.toggle("chosen", el.dataset.name === name));
  const main = clear($("#run-main"));
  main.dataset.run = name;
  main.append(
    h("div", { class: "card", id: "run-summary", "data-testid": "run-summary" }, h("p", { class: "hint" }, "Reading the run…")),
    h(
      "div",
      { class: "card" },
      h("h3", {}, "Learning curves ", h("span", { class: "muted" }, "— hover for the values")),
      h("div", { class: "curves" }, h("div", { id: "curve-loss", class: "chart-box" }), h("div", { id: "curve-acc", class: "chart-box" })),
    ),
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
        h("h3", {}, "Top losses ", h("span", { class: "muted" }, "— the test images the model is most wrong about, with Grad-CAM of its guess")),
        h("div", { id: "top-losses", class: "top-losses", "data-testid": "top-losses" }, h("p", { class: "hint" }, "Finding the test images with the largest loss…")),
      ),
    ),
  );
  const mine = ++state.seq;
  guard(() => loadRun(name, mine, true));
  guard(() => loadConfusion(name, mine));
  guard(() => loadTopLosses(name, mine));
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
  if (run && run.training) {
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
  clear(summary).append(
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, run.name),
      run.training ? h("span", { class: "live", "data-testid": "training-badge" }, `training · epoch ${run.epochs_done} of ${run.epochs}`) : null,
      h("span", { class: "muted" }, `${run.task} · ${run.engine} engine · ${run.model} model · ${run.data} · ${run.image_size.join("×")}×${run.channels}`),
    ),
    h(
      "div",
      { class: "summary-row" },
      h(
        "div",
        { class: "stats" },
        stat("test accuracy", pct(run.test_accuracy), "stat-test-acc"),
        stat("epochs", `${run.epochs_done} / ${run.epochs}`, "stat-epochs"),
        stat("best epoch", run.best_epoch ?? "—", "stat-best"),
        stat("classes", run.class_names.length, "stat-classes"),
      ),
      run.metrics ? table : h("p", { class: "hint" }, "No metrics yet: they are written when training ends."),
    ),
    m.validated_on ? h("p", { class: "hint" }, m.validated_on) : null,
  );
  const hist = run.history || {};
  lineChart($("#curve-loss"), {
    title: "loss",
    testid: "curve-loss",
    best: run.best_epoch,
    series: [
      { name: "train", values: hist.loss || [], colour: CURVE_COLOURS.train },
      { name: "validation", values: hist.val_loss || [], colour: CURVE_COLOURS.val },
    ],
  });
  lineChart($("#curve-acc"), {
    title: "accuracy",
    testid: "curve-accuracy",
    percent: true,
    best: run.best_epoch,
    series: [
      { name: "train", values: hist.accuracy || [], colour: CURVE_COLOURS.train },
      { name: "validation", values: hist.val_accuracy || [], colour: CURVE_COLOURS.val },
    ],
  });
  if (!first) {
    // Keep the list in step: epochs done, the training badge, the test accuracy.
    const listed = state.runs.find((r) => r.name === run.name);
    if (listed) Object.assign(listed, { training: run.training, epochs_done: run.epochs_done, test_accuracy: run.test_accuracy });
    renderList();
  }
}

function stat(label, value, testid) {
  return h("div", { class: "stat", "data-testid": testid }, h("b", {}, String(value)), h("span", {}, label));
}

async function loadConfusion(name, mine) {
  const answer = await getJSON(`${runPath(name)}/confusion`);
  if (mine !== state.seq) return;
  $("#confusion-note").textContent = `— ${answer.split} split, accuracy ${pct(answer.accuracy)}; click a cell for its images`;
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
          "figure",
          { class: "gal-item", "data-testid": "confusion-image", title: `test image ${img.index}` },
          h("img", { src: img.thumb, alt: `test image ${img.index}` }),
          h("figcaption", {}, `#${img.index} · p ${pct(img.p_pred)}`),
        ),
      ),
    ),
  );
  host.dataset.ready = "true";
  host.dataset.true = t;
  host.dataset.pred = p;
}

async function loadTopLosses(name, mine) {
  const answer = await getJSON(`${runPath(name)}/top-losses?k=12`);
  if (mine !== state.seq) return;
  const host = clear($("#top-losses"));
  if (!answer.images.length) host.append(h("p", { class: "hint" }, "No test images."));
  answer.images.forEach((img) =>
    host.append(
      h(
        "figure",
        { class: "loss-item", "data-testid": "top-loss" },
        h("div", { class: "pair" }, h("img", { src: img.thumb, alt: `test image ${img.index}` }), img.cam ? h("img", { src: img.cam, alt: "Grad-CAM" }) : null),
        h(
          "figcaption",
          {},
          h("span", { class: img.true === img.pred ? "ok" : "bad" }, `true ${img.true} · guess ${img.pred}`),
          h("span", { class: "muted" }, `p ${pct(img.p_pred)} · loss ${Number(img.loss).toFixed(2)}`),
        ),
      ),
    ),
  );
  host.dataset.ready = "true";
}
