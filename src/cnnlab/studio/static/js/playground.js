// The convolution and pooling playground: choose an input and a kernel, POST them to the API
// (cnnlab.ops computes everything) and step the window across the padded input.

import { getJSON, postJSON } from "./api.js";
import { makeScale, full, legend, plusTerm } from "./colors.js";
import { $, $$, h, clear } from "./dom.js";
import { DrawPad } from "./draw.js";
import { NumberGrid, gridThumb } from "./grid.js";
import { parseGrid } from "./gridtext.js";
import { pickableStage } from "./cellpick.js";
import { changed } from "./links.js";
import { guard, showError } from "./status.js";
import { Stepper, setActive } from "./stepper.js";

const PRESET_NAMES = {
  vertical_edge: "Vertical edge",
  horizontal_edge: "Horizontal edge",
  blur: "Blur",
  sharpen: "Sharpen",
  identity: "Identity",
};

const state = {
  presets: {},
  limits: { grid: 64, kernel: 9 },
  input: null,
  inputLabel: "",
  kernel: null,
  conv: null,
  pool: null,
  poolInput: null,
  convSeq: 0,
  poolSeq: 0,
  ready: null,
};

let inputGrid;
let outputGrid;
let poolInGrid;
let poolOutGrid;
let convStepper;
let poolStepper;
let drawPad;

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// ---------- input ----------

/** `picture`: pixels 0..255 (a digit, a run's image, a drawing: 255 is white); typed numbers
 * are gray from 0 (black) to their largest (white). */
function setInput(grid, label, picture = true, origin = { input: picture ? "drawing" : "numbers" }) {
  state.input = grid;
  state.inputLabel = label;
  state.origin = origin; // what a link says of this input (playground-link.js)
  state.inputWhite = picture ? 255 : Math.max(1e-12, ...grid.flat());
  $("#input-label").textContent = `${label}: ${grid.length} × ${grid[0].length}`;
  $("#grid-text").value = grid.map((row) => row.join(" ")).join("\n");
  return runConv();
}

function thumbButton(image, onPick, testid) {
  const button = h(
    "button",
    { type: "button", class: "thumb", title: image.label, "data-testid": testid, "data-id": image.id },
    gridThumb(image.grid, 40),
    h("span", {}, image.label.replace(/^digit /, "")),
  );
  button.addEventListener("click", () => {
    $$(".thumb.chosen", button.parentElement).forEach((b) => b.classList.remove("chosen"));
    button.classList.add("chosen");
    onPick();
  });
  return button;
}

let digitsRequest = null;

/** Ask for the built-in digits now (main.js calls this first thing, beside /api/info). */
export function prefetchDigits() {
  digitsRequest = getJSON("/api/playground/images?source=digits");
  digitsRequest.catch(() => {}); // reported when used
}

async function loadDigits() {
  const answer = await (digitsRequest || getJSON("/api/playground/images?source=digits"));
  digitsRequest = null;
  const host = clear($("#digit-thumbs"));
  answer.images.forEach((image) => host.append(thumbButton(image, () => setInput(image.grid, image.label, true, { input: image.id }), "digit-thumb")));
  return answer.images;
}

async function loadRunSamples() {
  const run = $("#sample-run").value;
  const host = clear($("#sample-thumbs"));
  if (!run) return;
  const size = $("#sample-size").value;
  host.append(h("p", { class: "hint" }, "Loading the run's test images…"));
  const answer = await getJSON(`/api/playground/images?source=${encodeURIComponent(run)}&size=${size}`);
  if ($("#sample-run").value !== run || $("#sample-size").value !== size) return;
  clear(host);
  answer.images.forEach((image) =>
    host.append(
      thumbButton(image, () => setInput(image.grid, `${run}: ${image.label}`, true, { input: "run", run, size, sample: image.id.split(":").pop() }), "sample-grid-thumb"),
    ),
  );
}

function chooseSource(source) {
  $$("#input-source button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.source === source)));
  $$(".src-panel").forEach((panel) => (panel.hidden = panel.id !== `src-${source}`));
  if (source === "run") guard(loadRunSamples);
}

// ---------- kernel and settings ----------

function renderKernelEditor() {
  const k = state.kernel;
  const scale = makeScale(k.flat(), "weights");
  const host = clear($("#kernel-editor"));
  host.style.gridTemplateColumns = `repeat(${k[0].length}, 1fr)`;
  k.forEach((row, r) =>
    row.forEach((v, c) => {
      const colour = scale(v);
      const input = h("input", {
        type: "number",
        step: "any",
        value: full(v),
        "data-testid": "kernel-cell",
        "data-r": r,
        "data-c": c,
        "aria-label": `kernel row ${r}, column ${c}`,
        style: { background: colour.fill, color: colour.text },
      });
      input.addEventListener("input", () => {
        const value = Number(input.value);
        if (input.value.trim() === "" || !Number.isFinite(value)) return;
        state.kernel[r][c] = value;
        $("#kernel-preset").value = "custom";
        const cellColour = makeScale(state.kernel.flat(), "weights");
        $$("input", host).forEach((el) => {
          const s = cellColour(state.kernel[el.dataset.r][el.dataset.c]);
          el.style.background = s.fill;
          el.style.color = s.text;
        });
        runConvSoon();
      });
      host.append(input);
    }),
  );
  $("#kernel-size").value = String(k.length);
}

function setKernel(kernel) {
  state.kernel = kernel.map((row) => [...row]);
  renderKernelEditor();
}

function resizeKernel(n) {
  const old = state.kernel;
  const kernel = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (old[r] && old[r][c] !== undefined ? old[r][c] : 0)));
  $("#kernel-preset").value = "custom";
  setKernel(kernel);
  runConv();
}

function paddingValue(prefix) {
  const choice = $(`#${prefix}-padding`).value;
  $(`#${prefix}-padding-n`).hidden = choice !== "number";
  if (choice !== "number") return choice;
  return Number($(`#${prefix}-padding-n`).value || 0);
}

function convRequest() {
  return {
    input: state.input,
    kernel: state.kernel,
    stride: Number($("#conv-stride").value || 1),
    padding: paddingValue("conv"),
    bias: Number($("#conv-bias").value || 0),
  };
}

// ---------- convolution ----------

export async function runConv() {
  if (!state.input || !state.kernel) return;
  const seq = ++state.convSeq;
  const body = convRequest();
  $("#conv-card").dataset.busy = "true";
  try {
    const answer = await postJSON("/api/playground/conv", body);
    if (seq !== state.convSeq) return;
    state.conv = { ...answer, request: body };
    renderConv();
    if ($("#pool-source").value === "conv") await runPool();
  } catch (error) {
    if (seq === state.convSeq) {
      const message = `convolution: ${error.message || error}`;
      showError(message);
      clearStage("conv", message);
      if ($("#pool-source").value === "conv") clearStage("pool", "pooling: nothing to pool, as the convolution failed");
    }
  } finally {
    if (seq === state.convSeq) $("#conv-card").dataset.busy = "false";
  }
}

const runConvSoon = debounce(runConv, 220);

/** After an error nothing stale stays on the stage: the grids and the cell's sum go, and the
 * card says why (the message bar says it too). */
function clearStage(kind, message) {
  const card = $(`#${kind}-card`);
  card.dataset.error = "true";
  card.dataset.busy = "false";
  state[kind] = null;
  const stepper = kind === "conv" ? convStepper : poolStepper;
  stepper.setCount(0);
  stepper.position.textContent = "no result";
  for (const id of [`#${kind}-input`, `#${kind}-output`, `#${kind}-formula`]) clear($(id));
  $(`#${kind}-explain`).textContent = "";
  const size = $(`#${kind}-output-size`);
  size.textContent = "—";
  size.dataset.rows = size.dataset.cols = "";
  if (kind === "conv") $("#conv-input-shape").textContent = $("#conv-output-shape").textContent = "";
  else $("#pool-input-shape").textContent = "";
  clear($(`#${kind}-calc`)).append(h("p", { class: "stage-error", "data-testid": `${kind}-stage-error` }, message));
}

function stageOk(kind) {
  $(`#${kind}-card`).dataset.error = "false";
}

function isPadFor(pads, rows, cols) {
  return (r, c) => r < pads.top || r >= rows - pads.bottom || c < pads.left || c >= cols - pads.right;
}

function renderConv() {
  const conv = state.conv;
  const rows = conv.padded.length;
  const cols = conv.padded[0].length;
  const [oh, ow] = conv.output_shape;
  const isPad = isPadFor(conv.pads, rows, cols);
  const large = Math.max(rows, cols) > 10;
  $("#conv-card .triptych").classList.toggle("large", large);
  const cell = NumberGrid.cellSize(rows, cols, { maxPx: large ? 500 : 380, maxCell: 40 });
  stageOk("conv");
  state.inputScale = makeScale(conv.padded.flat(), "image", { white: state.inputWhite });
  state.outputScale = makeScale(conv.output.flat(), "values");
  inputGrid.render(conv.padded, { isPad, cell, scale: state.inputScale });
  outputGrid.render(conv.output, { fillable: true, cell, scale: state.outputScale });
  $("#conv-input").append(legend(state.inputScale));
  $("#conv-output").append(legend(state.outputScale));
  const h0 = state.input.length;
  const w0 = state.input[0].length;
  $("#conv-input-shape").textContent = `${h0} × ${w0}${rows !== h0 || cols !== w0 ? ` → padded ${rows} × ${cols}` : ""}`;
  const size = $("#conv-output-size");
  size.textContent = `${oh} × ${ow}`;
  size.dataset.rows = oh;
  size.dataset.cols = ow;
  $("#conv-output-shape").textContent = `${oh} × ${ow}`;
  renderFormula($("#conv-formula"), conv, "conv");
  $("#conv-explain").textContent = (conv.explain || []).join("\n");
  convStepper.setCount(oh * ow, 0);
}

function renderFormula(host, answer, kind) {
  const f = answer.formula || {};
  const p = answer.pads;
  const [sh, sw] = answer.stride;
  const [kh, kw] = kind === "conv" ? answer.kernel_size : answer.pool_size;
  clear(host).append(
    h("div", { class: "formula-line", "data-testid": `${kind}-formula-height` }, h("code", {}, f.height || "")),
    h("div", { class: "formula-line", "data-testid": `${kind}-formula-width` }, h("code", {}, f.width || "")),
    h(
      "p",
      { class: "muted" },
      `window ${kh} × ${kw}, stride ${sh}${sw !== sh ? ` × ${sw}` : ""}, padding top ${p.top}, bottom ${p.bottom}, left ${p.left}, right ${p.right}`,
    ),
  );
}

function describeCell(k, answer) {
  if (!answer) return "";
  const ow = answer.output_shape[1];
  const total = answer.output_shape[0] * ow;
  return `cell (${Math.floor(k / ow)}, ${k % ow}) · ${k + 1} of ${total}`;
}

function stepConv(k) {
  const conv = state.conv;
  if (!conv) return;
  const ow = conv.output_shape[1];
  const i = Math.floor(k / ow);
  const j = k % ow;
  const [sh, sw] = conv.stride;
  const [kh, kw] = conv.kernel_size;
  inputGrid.setWindow(i * sh, j * sw, kh, kw);
  outputGrid.setFilled(k);
  outputGrid.setCurrent(i, j);
  renderConvCalc(i, j);
  changed("playground");
}

function miniGrid(values, testid, scale, opts = {}) {
  const host = h("div", { class: "mini" });
  const grid = new NumberGrid(host, { testid, maxPx: opts.maxPx || 140, maxCell: opts.maxCell || 32, minNumbers: 16, label: testid });
  grid.render(values, { scale, isPad: opts.isPad });
  return { host, grid };
}

function renderConvCalc(i, j) {
  const conv = state.conv;
  const [sh, sw] = conv.stride;
  const [kh, kw] = conv.kernel_size;
  const r0 = i * sh;
  const c0 = j * sw;
  const windowValues = conv.padded.slice(r0, r0 + kh).map((row) => row.slice(c0, c0 + kw));
  const products = conv.products[i][j];
  const productRows = Array.from({ length: kh }, (_, r) => products.slice(r * kw, (r + 1) * kw));
  const inputScale = state.inputScale;
  const rows = conv.padded.length;
  const cols = conv.padded[0].length;
  const isPad = (r, c) => isPadFor(conv.pads, rows, cols)(r + r0, c + c0);
  const value = conv.output[i][j];
  const bias = conv.request.bias;
  const terms = products.map((p) => full(p));
  const sum =
    products.length <= 9
      ? `${terms.join(" + ").replace(/\+ -/g, "− ")}${bias ? ` ${plusTerm(bias)}` : ""}`
      : `the sum of the ${products.length} products${bias ? ` ${plusTerm(bias)} (the bias)` : ""}`;
  const host = clear($("#conv-calc"));
  host.append(
    h(
      "div",
      { class: "calc-row" },
      h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "window"), miniGrid(windowValues, "calc-window", inputScale, { isPad }).host),
      h("span", { class: "op" }, "⊙"),
      h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "kernel"), miniGrid(state.conv.request.kernel, "calc-kernel", makeScale(state.conv.request.kernel.flat(), "weights")).host),
      h("span", { class: "op" }, "="),
      h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "products"), miniGrid(productRows, "calc-products", makeScale(products, "weights")).host),
    ),
    h(
      "div",
      { class: "calc-sum", "data-testid": "conv-sum", "data-value": String(value), "data-i": i, "data-j": j },
      h("span", { class: "muted" }, `output[${i}, ${j}] = `),
      h("span", { class: "terms" }, sum),
      h("span", { class: "eq" }, " = "),
      h("strong", {}, full(value)),
    ),
  );
}

// ---------- pooling ----------

async function runPool() {
  const source = $("#pool-source").value;
  const input = source === "conv" ? state.conv && state.conv.output : state.input;
  if (!input) return;
  const size = Number($("#pool-size").value || 2);
  const body = {
    input,
    mode: $("#pool-mode").value,
    size,
    stride: Number($("#pool-stride").value || size),
    padding: paddingValue("pool"),
  };
  const seq = ++state.poolSeq;
  try {
    const answer = await postJSON("/api/playground/pool", body);
    if (seq !== state.poolSeq) return;
    state.pool = { ...answer, request: body };
    renderPool();
  } catch (error) {
    if (seq === state.poolSeq) {
      const message = `pooling: ${error.message || error}`;
      showError(message);
      clearStage("pool", message);
    }
  }
}

const runPoolSoon = debounce(runPool, 200);

function renderPool() {
  const pool = state.pool;
  const rows = pool.padded.length;
  const cols = pool.padded[0].length;
  const [oh, ow] = pool.output_shape;
  const isPad = isPadFor(pool.pads, rows, cols);
  const large = Math.max(rows, cols) > 10;
  $("#pool-card .triptych").classList.toggle("large", large);
  const cell = NumberGrid.cellSize(rows, cols, { maxPx: large ? 500 : 360, maxCell: 40 });
  stageOk("pool");
  const values = [...pool.padded.flat(), ...pool.output.flat()];
  const ofInput = $("#pool-source").value !== "conv";
  const scale = ofInput ? makeScale(values, "image", { white: state.inputWhite }) : makeScale(values, "values");
  pool.scale = scale;
  poolInGrid.render(pool.padded, { isPad, cell, scale });
  poolOutGrid.render(pool.output, { fillable: true, cell: Math.max(cell, Math.min(46, cell * 1.5)), scale });
  $("#pool-output").append(legend(scale));
  const size = $("#pool-output-size");
  size.textContent = `${oh} × ${ow}`;
  size.dataset.rows = oh;
  size.dataset.cols = ow;
  $("#pool-input-shape").textContent = `${pool.request.input.length} × ${pool.request.input[0].length} (${
    $("#pool-source").value === "conv" ? "the convolution's output" : "the input"
  })`;
  renderFormula($("#pool-formula"), pool, "pool");
  $("#pool-explain").textContent = (pool.explain || []).join("\n");
  poolStepper.setCount(oh * ow, 0);
}

function stepPool(k) {
  const pool = state.pool;
  if (!pool) return;
  const ow = pool.output_shape[1];
  const i = Math.floor(k / ow);
  const j = k % ow;
  const [sh, sw] = pool.stride;
  const [ph, pw] = pool.pool_size;
  poolInGrid.setWindow(i * sh, j * sw, ph, pw);
  poolOutGrid.setFilled(k);
  poolOutGrid.setCurrent(i, j);
  const picked = pool.picked ? pool.picked[i][j] : null;
  if (picked) poolInGrid.setPicked(picked[0], picked[1]);
  else poolInGrid.setPicked(null);
  const r0 = i * sh;
  const c0 = j * sw;
  const windowValues = pool.padded.slice(r0, r0 + ph).map((row) => row.slice(c0, c0 + pw));
  const scale = pool.scale;
  const rows = pool.padded.length;
  const cols = pool.padded[0].length;
  const isPad = (r, c) => isPadFor(pool.pads, rows, cols)(r + r0, c + c0);
  const mini = miniGrid(windowValues, "pool-window", scale, { isPad, maxPx: 200, maxCell: 44 });
  if (picked) mini.grid.setPicked(picked[0] - r0, picked[1] - c0);
  const value = pool.output[i][j];
  const counted = windowValues.flat().filter((v) => v !== null).length;
  const how =
    pool.request.mode === "max"
      ? `max of the ${counted} cells`
      : `mean of the ${counted} cells${counted < ph * pw ? " (padding is ignored)" : ""}`;
  clear($("#pool-calc")).append(
    h("div", { class: "calc-row" }, h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "window"), mini.host)),
    h(
      "div",
      { class: "calc-sum", "data-testid": "pool-sum", "data-value": String(value), "data-i": i, "data-j": j },
      h("span", { class: "muted" }, `output[${i}, ${j}] = `),
      h("span", { class: "terms" }, how),
      h("span", { class: "eq" }, " = "),
      h("strong", {}, full(value)),
    ),
  );
  changed("playground");
}

// ---------- runs for the sample source ----------

export function setRuns(runs) {
  const select = clear($("#sample-run"));
  runs.forEach((run) => select.append(h("option", { value: run.name }, run.name)));
  $("#sample-empty").hidden = runs.length > 0;
  $("#sample-run").disabled = runs.length === 0;
}

// ---------- setup ----------

export async function init(info) {
  state.presets = info.presets || {};
  state.limits = { ...state.limits, ...(info.limits || {}) };
  inputGrid = new NumberGrid($("#conv-input"), { testid: "conv-input", maxPx: 380, maxCell: 40, label: "padded input" });
  outputGrid = new NumberGrid($("#conv-output"), { testid: "conv-output", maxPx: 380, maxCell: 40, label: "output" });
  poolInGrid = new NumberGrid($("#pool-input"), { testid: "pool-input", maxPx: 360, label: "pooling input" });
  poolOutGrid = new NumberGrid($("#pool-output"), { testid: "pool-output", maxPx: 360, label: "pooling output" });
  convStepper = new Stepper($("#conv-stepper"), {
    testid: "conv-step",
    onStep: stepConv,
    describe: (k) => describeCell(k, state.conv),
  });
  poolStepper = new Stepper($("#pool-stepper"), {
    testid: "pool-step",
    onStep: stepPool,
    describe: (k) => describeCell(k, state.pool),
  });
  setActive(convStepper);
  $("#pool-card").addEventListener("pointerdown", () => setActive(poolStepper));
  $("#conv-card").addEventListener("pointerdown", () => setActive(convStepper));
  pickableStage(inputGrid, outputGrid, convStepper, () => state.conv && { window: state.conv.kernel_size, stride: state.conv.stride, output: state.conv.output_shape });
  pickableStage(poolInGrid, poolOutGrid, poolStepper, () => state.pool && { window: state.pool.pool_size, stride: state.pool.stride, output: state.pool.output_shape });

  const presetSelect = clear($("#kernel-preset"));
  Object.keys(state.presets).forEach((name) => presetSelect.append(h("option", { value: name }, PRESET_NAMES[name] || name)));
  presetSelect.append(h("option", { value: "custom" }, "Custom (type the numbers)"));
  presetSelect.addEventListener("change", () => {
    if (presetSelect.value !== "custom") {
      setKernel(state.presets[presetSelect.value]);
      runConv();
    }
  });
  const sizeSelect = clear($("#kernel-size"));
  for (let n = 1; n <= Math.min(7, state.limits.kernel); n++) sizeSelect.append(h("option", { value: n }, `${n} × ${n}`));
  sizeSelect.addEventListener("change", () => resizeKernel(Number(sizeSelect.value)));
  const first = state.presets.vertical_edge ? "vertical_edge" : Object.keys(state.presets)[0];
  presetSelect.value = first || "custom";
  setKernel(first ? state.presets[first] : [[1]]);

  for (const id of ["#conv-stride", "#conv-bias", "#conv-padding-n"]) $(id).addEventListener("input", runConvSoon);
  $("#conv-padding").addEventListener("change", runConv);
  for (const id of ["#pool-mode", "#pool-source", "#pool-padding"]) $(id).addEventListener("change", runPool);
  for (const id of ["#pool-size", "#pool-stride", "#pool-padding-n"]) $(id).addEventListener("input", runPoolSoon);

  $$("#input-source button").forEach((b) => b.addEventListener("click", () => chooseSource(b.dataset.source)));
  $("#sample-run").addEventListener("change", () => guard(loadRunSamples));
  $("#sample-size").addEventListener("change", () => guard(loadRunSamples));
  const applyTyped = () => {
    try {
      setInput(parseGrid($("#grid-text").value, state.limits.grid), "typed numbers", false);
    } catch (error) {
      showError(error);
    }
  };
  $("#grid-apply").addEventListener("click", applyTyped);
  $("#grid-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) applyTyped();
  });
  drawPad = new DrawPad($("#draw-host"), { testid: "play-draw", onChange: () => useDrawing(true) });
  $("#draw-clear").addEventListener("click", () => drawPad.clear());
  $("#draw-use").addEventListener("click", () => useDrawing(false));
  $("#draw-size").addEventListener("change", () => useDrawing(true));

  // Start on the built-in digit 3 when the digits come quickly; otherwise on a typed 3 of small
  // integers, so that the page is usable at once (the digit thumbnails appear when they come).
  const digits = guard(loadDigits);
  const quick = await Promise.race([digits, new Promise((resolve) => setTimeout(() => resolve(null), 400))]);
  const start = quick && (quick.find((d) => d.label.endsWith("3")) || quick[0]);
  if (start) {
    const button = $(`#digit-thumbs [data-id="${start.id}"]`);
    if (button) button.classList.add("chosen");
    await setInput(start.grid, start.label, true, { input: start.id });
  } else {
    await setInput(STARTER, "a typed 3 (small integers)", false);
  }
}

const STARTER = [
  [0, 0, 0, 0, 0, 0, 0, 0],
  [0, 0, 9, 9, 9, 9, 0, 0],
  [0, 0, 0, 0, 0, 9, 0, 0],
  [0, 0, 0, 9, 9, 9, 0, 0],
  [0, 0, 0, 0, 0, 9, 0, 0],
  [0, 0, 0, 0, 0, 9, 0, 0],
  [0, 0, 9, 9, 9, 9, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0],
];

function useDrawing(quiet) {
  if (drawPad.empty) {
    if (!quiet) showError("the drawing is empty: draw a digit with the mouse first");
    return;
  }
  const n = Number($("#draw-size").value);
  setInput(drawPad.toGrid(n), "your drawing");
}

// ---------- links (playground-link.js reads and opens this view's state) ----------
export const link = {
  state: () => state,
  steppers: () => ({ conv: convStepper, pool: poolStepper }),
  setInput,
  setKernel,
  chooseSource,
  runPool,
};
