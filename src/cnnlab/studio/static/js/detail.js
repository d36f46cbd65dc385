// How one feature map was made: the previous layer's maps, this filter's kernels (one per input
// channel) and its bias, stepped cell by cell: each input channel's share, + bias = z, the
// activation, the output.

import { getJSON, runPath } from "./api.js";
import { makeScale, full, legend, plusTerm } from "./colors.js";
import { $, h, clear } from "./dom.js";
import { pickableStage } from "./cellpick.js";
import { NumberGrid } from "./grid.js";
import { renderLayer } from "./layerdetail.js";
import { changed } from "./links.js";
import { Stepper, setActive } from "./stepper.js";

const MAX_ROWS = 16; // input channels drawn with their numbers; the others are summed all the same

let current = null;
let seq = 0;

export function hideDetail() {
  const panel = $("#detail");
  if (panel) {
    panel.hidden = true;
    clear(panel);
  }
  if (current && current.stepper) current.stepper.pause();
  current = null;
}

/** Closed by the user (the close button, Esc): the URL follows. */
export function closeDetail() {
  hideDetail();
  changed("explorer");
}

/** {layer, channel, cell: [i, j]} of the open detail (for a link), or null. */
export function detailState() {
  if (!current || !current.layer) return null;
  const { stepper, ow } = current;
  const cell = stepper && ow ? [Math.floor(stepper.k / ow), stepper.k % ow] : null;
  const goTo = ([i, j]) => stepper && i < stepper.count / ow && j < ow && (stepper.go(i * ow + j), true);
  return { layer: current.layer, channel: current.channel, imageId: current.imageId, cell, goTo };
}

function channelOf(padded, ch) {
  return padded.map((row) => row.map((cell) => cell[ch]));
}

function activate(name, z) {
  return name === "relu" ? `relu(${full(z)}) = max(0, ${full(z)})` : `${name}(${full(z)})`;
}

/** Open how `layer`'s map `channel` was made; `cell` [i, j]: the step to start on. */
export async function showDetail({ run, imageId, layer, channel, previous, cell = null }) {
  const mine = ++seq;
  const panel = $("#detail");
  panel.hidden = false;
  panel.dataset.ready = "false";
  const url = `${runPath(run)}/explore/${encodeURIComponent(imageId)}/layers/${encodeURIComponent(layer)}/channels/${channel}`;
  const d = await getJSON(url);
  if (mine !== seq) return;
  if (d.kind) {
    // every layer but a Conv2D explains itself in layerdetail.js (its link keeps no cell)
    if (current && current.stepper) current.stepper.pause();
    current = { ...renderLayer(panel, d, closeDetail), layer, channel };
  } else render(panel, d, previous, cell);
  current.imageId = imageId;
  changed("explorer");
  panel.scrollIntoView({ behavior: "smooth", block: "start" });
}

function render(panel, d, previous, cell) {
  if (current && current.stepper) current.stepper.pause();
  const cin = d.kernels.length;
  const numbers = Array.isArray(d.padded) && Array.isArray(d.z);
  clear(panel);
  panel.dataset.layer = d.layer;
  panel.dataset.channel = d.channel;
  const close = h("button", { type: "button", class: "close", "aria-label": "Close", "data-testid": "detail-close", onclick: closeDetail }, "×");
  panel.append(
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, `How ${d.layer} · channel ${d.channel} was made`),
      h("span", { class: "muted" }, `from the ${cin} map${cin > 1 ? "s" : ""} of ${d.input_layer || previous}, stride ${d.stride.join(" × ")}, bias ${full(d.bias)}, activation ${d.activation}`),
      close,
    ),
  );
  const kernelStrip = h(
    "div",
    { class: "kernel-strip", "data-testid": "detail-kernels" },
    d.kernels.map((src, c) =>
      h(
        "figure",
        { class: "kernel-fig" },
        h("img", { src, alt: `kernel for input channel ${c}`, "data-testid": "detail-kernel", "data-channel": c }),
        h("figcaption", {}, `in ${c}`),
      ),
    ),
    h("div", { class: "bias-box", "data-testid": "detail-bias", "data-value": String(d.bias) }, h("span", { class: "muted" }, "bias"), h("b", {}, full(d.bias))),
  );
  const inputsStrip = h(
    "div",
    { class: "kernel-strip inputs" },
    d.inputs.map((src, c) =>
      h("figure", { class: "kernel-fig" }, h("img", { src, alt: `input map ${c}`, "data-testid": "detail-input" }), h("figcaption", {}, `${c}`)),
    ),
  );
  panel.append(
    h(
      "div",
      { class: "detail-top" },
      h("div", {}, h("h4", {}, `The input: ${d.input_layer || previous}'s maps`), inputsStrip),
      h("div", {}, h("h4", {}, "This filter: one kernel per input channel, and the bias"), kernelStrip),
      h(
        "div",
        {},
        h("h4", {}, "The result"),
        h("img", { src: d.output_map, class: "fmap big", alt: "the output map", "data-testid": "detail-output-map" }),
      ),
    ),
  );
  if (!numbers) {
    panel.append(h("p", { class: "hint", "data-testid": "detail-too-big" }, "This layer is too large to show every number; the pictures above are exact."));
    panel.dataset.ready = "true";
    current = { stepper: null, layer: d.layer, channel: d.channel };
    return;
  }
  const stepHost = h("div", {});
  const rowsHost = h("div", { class: "channel-rows", "data-testid": "detail-rows" });
  const sumHost = h("div", { class: "calc-sum detail-sum", "data-testid": "detail-sum" });
  const outHost = h("div", { class: "grid-host" });
  panel.append(
    stepHost,
    h(
      "div",
      { class: "detail-body" },
      h("div", { class: "detail-left" }, rowsHost),
      h("div", { class: "detail-right" }, h("h4", {}, `z, then ${d.activation}: the output (${d.output.length} × ${d.output[0].length})`), outHost, sumHost),
    ),
  );

  const rows = d.padded.length;
  const cols = d.padded[0].length;
  const [kh, kw] = [d.kernel.length, d.kernel[0].length];
  const [sh, sw] = d.stride;
  // The studio's colours: the image in gray as it is (scaled pixels, 1 is white), the previous
  // layer's activations in viridis (blue-white-red when some are negative), kernels in
  // blue-white-red around 0, the output in viridis (or blue-white-red).
  const inScale = makeScale(d.padded.flat(2), d.input_kind === "image" ? "image" : "values");
  const kScale = makeScale(d.kernel.flat(2), "weights");
  const pads = d.pads;
  const isPad = (r, c) => r < pads.top || r >= rows - pads.bottom || c < pads.left || c >= cols - pads.right;
  const shown = Math.min(cin, MAX_ROWS);
  const channels = [];
  for (let c = 0; c < shown; c++) {
    const gridHost = h("div", { class: "grid-host" });
    const grid = new NumberGrid(gridHost, { testid: "detail-in-grid", maxPx: cin > 4 ? 150 : 260, maxCell: 34, label: `input channel ${c}` });
    grid.render(channelOf(d.padded, c), { isPad, scale: inScale });
    const windowHost = h("div", { class: "mini" });
    const kernelHost = h("div", { class: "mini" });
    const kernelGrid = new NumberGrid(kernelHost, { testid: "detail-kernel-grid", maxPx: 120, maxCell: 34, minNumbers: 16 });
    kernelGrid.render(channelOf(d.kernel, c), { scale: kScale });
    const share = h("span", { class: "share", "data-testid": "detail-share", "data-channel": c });
    rowsHost.append(
      h(
        "div",
        { class: "channel-row" },
        h("span", { class: "ch-label" }, `in ${c}`),
        gridHost,
        h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "window"), windowHost),
        h("span", { class: "op" }, "⊙"),
        h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "kernel"), kernelHost),
        h("span", { class: "op" }, "→"),
        h("div", { class: "calc-part" }, h("span", { class: "calc-label" }, "share"), share),
      ),
    );
    channels.push({ grid, windowHost, share });
  }
  rowsHost.prepend(
    h("div", { class: "legends" }, legend(inScale, d.input_kind === "image" ? "input image" : "input maps"), legend(kScale, "kernels")),
  );
  if (cin > shown) rowsHost.append(h("p", { class: "hint" }, `… and ${cin - shown} more input channels, whose shares are in the sum.`));

  const outGrid = new NumberGrid(outHost, { testid: "detail-output", maxPx: 320, maxCell: 64, label: "output map" });
  const outScale = makeScale(d.output.flat(), "values");
  outGrid.render(d.output, { fillable: true, scale: outScale });
  outHost.append(legend(outScale, "output"));
  const [oh, ow] = [d.output.length, d.output[0].length];

  const step = (k) => {
    const i = Math.floor(k / ow);
    const j = k % ow;
    const r0 = i * sh;
    const c0 = j * sw;
    channels.forEach(({ grid, windowHost, share }, c) => {
      grid.setWindow(r0, c0, kh, kw);
      const values = d.padded.slice(r0, r0 + kh).map((row) => row.slice(c0, c0 + kw).map((cell) => cell[c]));
      new NumberGrid(windowHost, { testid: "detail-window", maxPx: 120, maxCell: 34, minNumbers: 16 }).render(values, {
        scale: inScale,
        isPad: (r, cc) => isPad(r + r0, cc + c0),
      });
      const v = d.channel_sums[i][j][c];
      share.textContent = full(v);
      share.dataset.value = String(v);
      share.className = `share ${v < 0 ? "neg" : "pos"}`;
    });
    outGrid.setFilled(k);
    outGrid.setCurrent(i, j);
    const shares = d.channel_sums[i][j];
    const z = d.z[i][j];
    const terms = shares.length <= 8 ? shares.map(full).join(" + ").replace(/\+ -/g, "− ") : `the ${shares.length} shares`;
    clear(sumHost).append(
      h("div", {}, h("span", { class: "muted" }, `z[${i}, ${j}] = `), terms, ` ${plusTerm(d.bias)} = `, h("b", { "data-testid": "detail-z", "data-value": String(z) }, full(z))),
      h(
        "div",
        {},
        h("span", { class: "muted" }, `output[${i}, ${j}] = `),
        activate(d.activation, z),
        " = ",
        h("b", { "data-testid": "detail-out", "data-value": String(d.output[i][j]) }, full(d.output[i][j])),
      ),
    );
    panel.dataset.k = k;
    changed("explorer");
  };
  const stepper = new Stepper(stepHost, {
    testid: "detail-step",
    onStep: step,
    describe: (k) => `cell (${Math.floor(k / ow)}, ${k % ow}) · ${k + 1} of ${oh * ow}`,
  });
  current = { stepper, layer: d.layer, channel: d.channel, ow };
  const geometry = { window: [kh, kw], stride: [sh, sw], output: [oh, ow] };
  pickableStage(channels.map((ch) => ch.grid), outGrid, stepper, () => geometry);
  const start = cell && cell[0] < oh && cell[1] < ow ? cell[0] * ow + cell[1] : 0;
  stepper.setCount(oh * ow, start);
  setActive(stepper);
  panel.dataset.ready = "true";
}
