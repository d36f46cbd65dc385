// The model explorer: a run, an image (a test sample, an upload or a drawing), the network as
// columns of feature maps, the class probabilities and the Grad-CAM overlay.

import { getJSON, postJSON, postBytes, runPath } from "./api.js";
import { probabilityBars } from "./charts.js";
import { legend, makeScale } from "./colors.js";
import { $, h, clear } from "./dom.js";
import { DrawPad } from "./draw.js";
import { showDetail, hideDetail, closeDetail } from "./detail.js";
import { changed } from "./links.js";
import { guard, showError } from "./status.js";
import { emptyRunsMessage } from "./empty.js";
import { afterNetwork } from "./netrange.js";
import { initCamera, stopCamera } from "./camera.js";

const state = { runs: [], run: null, answer: null, seq: 0, shown: false };
let drawPad;

function currentRun() {
  return state.runs.find((r) => r.name === state.run) || null;
}

export function setRuns(runs, runsDir) {
  state.runs = runs;
  const empty = $("#explorer-empty");
  empty.hidden = runs.length > 0;
  $("#explorer-body").hidden = runs.length === 0;
  if (!runs.length) {
    emptyRunsMessage(empty, runsDir, "explore");
    return;
  }
  const select = clear($("#explore-run"));
  runs.forEach((run) => select.append(h("option", { value: run.name }, run.name)));
  if (!runs.some((r) => r.name === state.run)) state.run = runs[0].name;
  select.value = state.run;
  describeRun();
}

/** The drawing pad only for runs whose images are drawings (the built-in digits). */
function offerPad() {
  const run = currentRun();
  const drawn = Boolean(run && run.drawn);
  $("#explore-draw-block").hidden = !drawn;
  $("#explore-draw-block").dataset.offered = String(drawn);
}

function describeRun() {
  const run = currentRun();
  if (!run) return;
  const acc = run.test_accuracy === null || run.test_accuracy === undefined ? "" : ` · test accuracy ${(run.test_accuracy * 100).toFixed(1)}%`;
  offerPad();
  const what = run.source === "model" ? "model file" : `${run.model} model`;
  $("#explore-run-info").textContent = `${run.engine} engine · ${what} · ${run.data} · ${run.image_size.join("×")}×${run.channels} · ${run.class_names.length} classes${acc}`;
}

/** Called when the view is shown: load the samples and explore the first one. */
export async function onShow() {
  if (state.shown || !state.run) return;
  state.shown = true;
  await chooseRun(state.run);
}

/** Load a run's samples and explore `imageId` (an image id), or else its first sample. */
async function chooseRun(name, imageId = null) {
  stopCamera(); // the camera's frames go to one run: another run releases it
  state.run = name;
  describeRun();
  hideDetail();
  const host = clear($("#explore-samples"));
  host.append(h("p", { class: "hint" }, "Loading the run's test samples…"));
  const answer = await getJSON(`${runPath(name)}/samples?split=test&limit=24`);
  if (state.run !== name) return;
  clear(host);
  answer.samples.forEach((sample) => {
    const button = h(
      "button",
      { type: "button", class: "thumb sample", title: `test sample ${sample.index}: ${sample.label}`, "data-testid": "explore-sample", "data-index": sample.index },
      h("img", { src: sample.thumb, alt: sample.label }),
      h("span", {}, sample.label),
    );
    button.addEventListener("click", () => {
      markChosen(button);
      guard(() => exploreSample(sample.index));
    });
    host.append(button);
  });
  if (!answer.samples.length) host.append(h("p", { class: "hint", "data-testid": "no-samples" }, "No sample images: upload one (or start the studio with --data DIR)."));
  const first = host.querySelector("button");
  if (imageId) await showImage(imageId);
  else if (first) {
    markChosen(first);
    await exploreSample(answer.samples[0].index);
  }
}

function markChosen(button) {
  document.querySelectorAll("#view-explorer .thumb.chosen").forEach((b) => b.classList.remove("chosen"));
  if (button) button.classList.add("chosen");
}

async function show(request) {
  const seq = ++state.seq;
  const run = state.run;
  const status = $("#explore-status");
  $("#explore-result").dataset.busy = "true";
  status.textContent = state.answer ? "Running the model…" : "Running the model… (the first image of a run loads it: a few seconds)";
  const timer = setTimeout(() => (status.hidden = false), 150);
  try {
    const answer = await request();
    if (seq !== state.seq) return;
    state.answer = { ...answer, run };
    render();
  } finally {
    if (seq === state.seq) {
      clearTimeout(timer);
      status.hidden = true;
      $("#explore-result").dataset.busy = "false";
    }
  }
}

const exploreSample = (index) => show(() => postJSON(`${runPath(state.run)}/explore`, { sample: index, split: "test" }));

const upload = (blob) => show(() => postBytes(`${runPath(state.run)}/upload`, blob));

function render() {
  const a = state.answer;
  hideDetail();
  const result = $("#explore-result");
  result.hidden = false;
  result.dataset.imageId = a.image_id;
  $("#explore-input").src = a.input.thumb;
  $("#explore-input-shape").textContent = a.input.shape.join(" × ");
  const cam = $("#explore-cam");
  cam.hidden = !a.grad_cam;
  const why = $("#explore-cam-none");
  why.textContent = !a.grad_cam ? "No Conv2D layer: no Grad-CAM." : a.grad_cam.blank || "";
  why.hidden = Boolean(a.grad_cam && !a.grad_cam.blank);
  if (a.grad_cam) {
    cam.src = a.grad_cam.overlay;
    $("#explore-cam-layer").textContent = `of “${a.predicted.class}”, at ${a.grad_cam.layer}`;
  } else {
    $("#explore-cam-layer").textContent = "";
  }
  const predicted = $("#explore-predicted");
  predicted.textContent = `${a.predicted.class} · ${(a.predicted.p * 100).toFixed(1)}%`;
  predicted.dataset.class = a.predicted.class;
  predicted.dataset.p = String(a.predicted.p);
  probabilityBars($("#explore-probs"), a.probabilities, a.predicted.class);
  const note = $("#explore-note");
  note.hidden = !a.note;
  note.textContent = a.note || "";
  renderNetwork(a);
  afterNetwork($("#network"), a); // the maps' colour range, the units that open (netrange.js)
  result.dataset.ready = "true";
  changed("explorer");
}

function mapSize(count) {
  if (count <= 4) return 72;
  if (count <= 8) return 56;
  if (count <= 16) return 44;
  if (count <= 32) return 34;
  return 26;
}

function formatShape(shape) {
  return shape.map((d) => (d === null ? "?" : d)).join(" × ");
}

function valuesColumn(values, range) {
  const max = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
  if (values.length <= 64) {
    return h(
      "div",
      { class: "values" },
      values.map((v, n) =>
        h(
          "div",
          { class: "value-row", title: `unit ${n}: ${v}`, "data-testid": "unit-value", "data-value": String(v) },
          h("span", { class: "unit" }, n),
          h(
            "span",
            { class: "value-track" },
            h("span", { class: `value-fill${v < 0 ? " neg" : ""}`, style: { width: `${(Math.abs(v) / max) * 100}%` } }),
          ),
        ),
      ),
    );
  }
  const side = Math.ceil(Math.sqrt(values.length));
  const canvas = h("canvas", { width: side, height: side, class: "value-strip", title: `${values.length} values, ${range ? range.join(" to ") : ""}` });
  const ctx = canvas.getContext("2d");
  values.forEach((v, n) => {
    const t = v / max;
    ctx.fillStyle = t >= 0 ? `rgba(196,43,52,${t})` : `rgba(33,82,156,${-t})`;
    ctx.fillRect(n % side, Math.floor(n / side), 1, 1);
  });
  return canvas;
}

function renderNetwork(a) {
  const host = clear($("#network"));
  const inputColumn = h(
    "div",
    { class: "layer-col input-col" },
    h("div", { class: "layer-head" }, h("b", {}, "input"), h("span", { class: "shape" }, formatShape(a.input.shape))),
    h("div", { class: "maps" }, h("img", { src: a.input.thumb, class: "fmap", style: { width: "72px", height: "72px" }, alt: "input" })),
  );
  host.append(inputColumn);
  let previous = "input";
  for (const layer of a.layers) {
    const count = layer.maps ? layer.maps.length : 0;
    const size = mapSize(count);
    const perColumn = Math.max(1, Math.ceil(count / 8));
    const body = layer.maps
      ? h(
          "div",
          { class: "maps", style: { gridTemplateColumns: `repeat(${perColumn}, ${size}px)` } },
          layer.maps.map((src, c) => {
            const img = h("img", {
              src,
              class: `fmap${layer.detail ? " clickable" : ""}`,
              style: { width: `${size}px`, height: `${size}px` },
              alt: `${layer.name} channel ${c}`,
              title: `${layer.name}, channel ${c}${layer.detail ? " — click to see how it was made" : ""}`,
              "data-testid": "feature-map",
              "data-layer": layer.name,
              "data-channel": c,
              "data-detail": layer.detail ? "true" : "false",
              tabindex: layer.detail ? -1 : null,
            });
            if (layer.detail) {
              const from = previous;
              const open = () => {
                document.querySelectorAll(".fmap.selected").forEach((el) => el.classList.remove("selected"));
                img.classList.add("selected");
                guard(() => showDetail({ run: a.run, imageId: a.image_id, layer: layer.name, channel: c, previous: from }));
              };
              img.addEventListener("click", open);
              img.addEventListener("keydown", (event) => (event.key === "Enter" || event.key === " ") && open());
            }
            return img;
          }),
        )
      : layer.values
        ? valuesColumn(layer.values, layer.range)
        : layer.note
          ? h("p", { class: "hint", "data-testid": "layer-note" }, layer.note)
          : h("p", { class: "hint", "data-testid": "too-many-values" }, tooMany(layer));
    const params = layer.params ? `${layer.params.toLocaleString("en")} params` : "no params";
    host.append(
      h("span", { class: "arrow", "aria-hidden": "true" }, "→"),
      h(
        "div",
        {
          class: `layer-col type-${layer.type.toLowerCase()}`,
          "data-testid": "layer",
          "data-name": layer.name,
          "data-type": layer.type,
          "data-shape": JSON.stringify(layer.output_shape),
          "data-params": layer.params,
        },
        h(
          "div",
          { class: "layer-head" },
          h("b", { title: layer.name }, layer.name),
          h("span", { class: "ltype" }, layer.type),
          h("span", { class: "shape" }, formatShape(layer.output_shape)),
          h("span", { class: "params" }, params),
          layer.range && !layer.maps ? h("span", { class: "range", title: "the range of this layer's values" }, `${fmtRange(layer.range[0])} … ${fmtRange(layer.range[1])}`) : null,
          layer.maps ? legend(makeScale(layer.range, "values"), "") : null,
        ),
        body,
      ),
    );
    previous = layer.name;
  }
  rovingMaps(host);
}

function tooMany(layer) {
  const n = Number(layer.n_values || 0).toLocaleString("en");
  const why = layer.type === "Flatten" ? "the maps before it hold the same numbers, in order" : "its range is in the heading";
  return `${n} values: too many to list here (${why})`;
}

/** The openable maps are one Tab stop: arrow keys (and Home, End) move among them. */
function rovingMaps(host) {
  const maps = [...host.querySelectorAll(".fmap.clickable")];
  maps.forEach((m, n) => (m.tabIndex = n === 0 ? 0 : -1));
  host.addEventListener("keydown", (event) => {
    const at = maps.indexOf(event.target);
    if (at < 0) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1, Home: -Infinity, End: Infinity };
    if (!(event.key in moves)) return;
    event.preventDefault();
    event.stopPropagation();
    const to = Math.max(0, Math.min(maps.length - 1, at + moves[event.key]));
    maps[at].tabIndex = -1;
    maps[to].tabIndex = 0;
    maps[to].focus();
  });
}

function fmtRange(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

export function init() {
  $("#explore-run").addEventListener("change", (event) => guard(() => chooseRun(event.target.value)));
  const file = $("#explore-file");
  file.addEventListener("change", () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    markChosen(null);
    guard(() => upload(chosen)).finally(() => (file.value = ""));
  });
  drawPad = new DrawPad($("#explore-draw-host"), { testid: "explore-draw" });
  initCamera(() => state.run);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || $("#detail").hidden) return;
    const opened = document.querySelector(".fmap.selected");
    closeDetail();
    if (opened) opened.focus();
  });
  $("#explore-draw-clear").addEventListener("click", () => drawPad.clear());
  $("#explore-draw-use").addEventListener("click", () => {
    if (drawPad.empty) {
      showError("the drawing is empty: draw a digit with the mouse first");
      return;
    }
    markChosen(null);
    guard(async () => upload(await drawPad.toBlob({ centred: true })));
  });
}

// ---------- links: the state a link holds and how one is opened (explorer-link.js) ----------

/** Explore an image by its id (s:SPLIT:INDEX or an upload's u:...), its thumbnail chosen. */
function showImage(imageId) {
  const sample = /^s:test:(\d+)$/.exec(imageId);
  markChosen(sample ? document.querySelector(`#explore-samples [data-index="${sample[1]}"]`) : null);
  return show(() => postJSON(`${runPath(state.run)}/explore`, { image_id: imageId }));
}

export const linkView = {
  runs: () => state.runs,
  run: () => state.run,
  answer: () => (state.answer && state.answer.run === state.run ? state.answer : null),
  /** Open run `name` (its samples, then `imageId` or its first sample). */
  async open(name, imageId = null) {
    state.shown = true;
    const a = linkView.answer();
    if (name !== state.run || !a) {
      $("#explore-run").value = name;
      return chooseRun(name, imageId);
    }
    if (imageId && imageId !== a.image_id) return showImage(imageId);
    return undefined;
  },
  onShow,
};
