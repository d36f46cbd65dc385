// The runs view's learning curves: the chosen run's, or several runs overlaid (each run in its
// own colour, train solid, validation dashed, a legend), loss, accuracy and the learning rate
// (history.csv's learning_rate, which cnnlab's training writes each epoch; "lr" too), a log
// scale for the loss and learning-rate axes, and each run's best epoch as a labelled line. A
// compared run that is still training is read again every 2 s, as the chosen run is.

import { getJSON, runPath } from "./api.js";
import { lineChart, CURVE_COLOURS } from "./charts.js";
import { h, clear } from "./dom.js";
import { changed } from "./links.js";
import { showError } from "./status.js";

export const RUN_COLOURS = ["#2f6fd0", "#e0803a", "#2a9d6f", "#b04bc4", "#c9a227", "#d6454f", "#3fa7b8", "#7a6a58"];

// compare: the other runs overlaid; details: run name -> its /api/runs/{run} answer; read:
// run name -> when that answer came; timer: the next read of compared runs still training.
export const curves = { compare: [], log: false, main: null, details: new Map(), read: new Map(), host: null, seq: 0, timer: null };
const POLL_MS = 2000;

const lrOf = (history) => history.learning_rate || history.lr || null;
const fmt = (v) => (v === null || v === undefined ? "—" : Number(Number(v).toPrecision(4)).toString());

/** The learning-curves card for run `chosen`: which other runs to overlay, the log scale, and
 * a box per chart. */
export function curvesCard(runs, chosen) {
  curves.compare = curves.compare.filter((name) => name !== chosen && runs.some((r) => r.name === name));
  curves.main = null;
  curves.details.clear(); // read again: a compared run may have trained on
  curves.read.clear();
  const others = runs.filter((r) => r.name !== chosen && r.source !== "model"); // a model file has no curves
  const picks = others.map((r) => {
    const box = h("input", { type: "checkbox", "data-testid": "compare-run", "data-name": r.name, checked: curves.compare.includes(r.name) });
    box.addEventListener("change", () => {
      curves.compare = others.map((o) => o.name).filter((name) => name === r.name ? box.checked : curves.compare.includes(name));
      redraw();
      changed("runs");
    });
    return h("label", { class: "compare-pick", title: r.name }, box, h("span", {}, r.name));
  });
  const log = h("input", { type: "checkbox", "data-testid": "curves-log", checked: curves.log });
  log.addEventListener("change", () => {
    curves.log = log.checked;
    redraw();
    changed("runs");
  });
  curves.host = h("div", { class: "curves curves-3" }, h("div", { id: "curve-loss", class: "chart-box" }), h("div", { id: "curve-acc", class: "chart-box" }), h("div", { id: "curve-lr", class: "chart-box" }));
  return h(
    "div",
    { class: "card", "data-testid": "curves-card" },
    h("h3", {}, "Learning curves ", h("span", { class: "muted" }, "— hover for the values")),
    h(
      "div",
      { class: "curve-controls" },
      others.length ? h("div", { class: "compare-picks", "data-testid": "compare-picks" }, h("span", { class: "muted" }, "Compare with:"), picks) : null,
      h("label", { class: "log-pick" }, log, " log scale (loss, learning rate)"),
    ),
    curves.host,
  );
}

/** Set the overlaid runs and the log scale (a link) and draw them. */
export function setCurves({ compare, log }) {
  curves.compare = compare;
  curves.log = log;
  for (const box of document.querySelectorAll('[data-testid="compare-run"]')) box.checked = compare.includes(box.dataset.name);
  const logBox = document.querySelector('[data-testid="curves-log"]');
  if (logBox) logBox.checked = log;
  return redraw();
}

/** The chosen run's details (again, while it trains): draw the curves. */
export function drawCurves(run) {
  curves.main = run;
  curves.details.set(run.name, run);
  return redraw();
}

// A compared run's answer is read again when it is missing, or when its run was training and
// the answer is a poll old.
function stale(name) {
  const detail = curves.details.get(name);
  return !detail || (detail.training && Date.now() - curves.read.get(name) >= POLL_MS - 100);
}

async function redraw() {
  const mine = ++curves.seq;
  const missing = curves.compare.filter(stale);
  if (missing.length) {
    try {
      const answers = await Promise.all(missing.map((name) => getJSON(runPath(name))));
      answers.forEach((a) => {
        curves.details.set(a.name, a);
        curves.read.set(a.name, Date.now());
      });
    } catch (error) {
      showError(error);
      curves.compare = curves.compare.filter((name) => curves.details.has(name));
    }
  }
  if (mine !== curves.seq || !curves.main || !curves.host || !curves.host.isConnected) return;
  const runs = [curves.main, ...curves.compare.map((name) => curves.details.get(name)).filter(Boolean)];
  draw(runs);
  pollCompared();
}

// While a compared run trains, draw again every 2 s (the chosen run's own poll may draw
// sooner; then this one finds nothing stale to read and only draws).
function pollCompared() {
  const live = curves.compare.some((name) => (curves.details.get(name) || {}).training);
  if (!live || curves.timer !== null) return;
  curves.timer = setTimeout(() => {
    curves.timer = null;
    if (curves.host && curves.host.isConnected) redraw();
  }, POLL_MS);
}

function seriesOf(runs, key, valKey) {
  if (runs.length === 1) {
    const hist = runs[0].history || {};
    return [
      { name: "train", values: hist[key] || [], colour: CURVE_COLOURS.train },
      { name: "validation", values: hist[valKey] || [], colour: CURVE_COLOURS.val },
    ];
  }
  return runs.flatMap((run, k) => {
    const hist = run.history || {};
    const colour = RUN_COLOURS[k % RUN_COLOURS.length];
    return [
      { name: `${run.name} · train`, values: hist[key] || [], colour, run: run.name },
      { name: `${run.name} · validation`, values: hist[valKey] || [], colour, dash: true, run: run.name },
    ];
  });
}

function draw(runs) {
  const many = runs.length > 1;
  const colourOf = (k) => (many ? RUN_COLOURS[k % RUN_COLOURS.length] : null);
  const bests = (labelled) =>
    runs
      .map((run, k) => {
        const epoch = run.best_epoch;
        if (!epoch) return null;
        const valLoss = ((run.history || {}).val_loss || [])[epoch - 1];
        return { epoch, colour: colourOf(k), label: labelled ? `best: epoch ${epoch}, val_loss ${fmt(valLoss)}` : null };
      })
      .filter(Boolean);
  const [lossBox, accBox, lrBox] = curves.host.children;
  const log = curves.log;
  lineChart(lossBox, { title: `loss${log ? " (log scale)" : ""}`, testid: "curve-loss", log, best: bests(true), series: seriesOf(runs, "loss", "val_loss") });
  lineChart(accBox, { title: "accuracy", testid: "curve-accuracy", percent: true, best: bests(false), series: seriesOf(runs, "accuracy", "val_accuracy") });
  const withLr = runs.map((run, k) => ({ run, k, values: lrOf(run.history || {}) })).filter((r) => r.values && r.values.length);
  if (!withLr.length) {
    clear(lrBox).append(
      h("div", { class: "chart-title" }, "learning rate"),
      h("p", { class: "hint", "data-testid": "lr-none" }, `no learning rate recorded${many ? " in these runs" : " in this run"} (its history.csv has no learning_rate column)`),
    );
    return;
  }
  lineChart(lrBox, {
    title: `learning rate${log ? " (log scale)" : ""}`,
    testid: "curve-lr",
    log,
    series: withLr.map(({ run, k, values }) => ({ name: many ? run.name : "learning rate", values, colour: many ? colourOf(k) : "#6b5bd2", run: run.name })),
  });
  const without = runs.filter((run) => !withLr.some((r) => r.run === run));
  if (without.length) lrBox.append(h("p", { class: "hint" }, `no learning rate recorded for ${without.map((r) => r.name).join(", ")}`));
}
