// How a layer other than a Conv2D made its output (the answers of cnnlab.studio.layers):
// an activation (before -> after), pooling (the window and its max or mean, stepped), batch
// normalization (its four numbers and the formula), Dense (the dot product as a sum of shares,
// then the activation: softmax's exp(z_i) / sum exp(z_j), sigmoid's 1 / (1 + exp(-z))), Add, and
// a line for the layers that move numbers without changing them. detail.js calls renderLayer
// for every answer with a "kind"; the Conv2D's own rendering stays there.

import { makeScale, full, legend, plusTerm } from "./colors.js";
import { h, clear } from "./dom.js";
import { NumberGrid } from "./grid.js";
import { Stepper, setActive } from "./stepper.js";

const num = (testid, v, extra = {}) => h("b", { "data-testid": testid, "data-value": String(v), ...extra }, full(v));

function heading(panel, d, close, noun) {
  panel.append(
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, `How ${d.layer} · ${noun} ${d.channel} was made`),
      h("span", { class: "muted layer-what", "data-testid": "layer-what" }, `${d.type}: ${d.what}`),
      h("button", { type: "button", class: "close", "aria-label": "Close", "data-testid": "detail-close", onclick: close }, "×"),
    ),
  );
}

/** Draw answer `d` into the panel; returns {stepper} (null when nothing steps). */
export function renderLayer(panel, d, close) {
  clear(panel);
  panel.dataset.layer = d.layer;
  panel.dataset.channel = d.channel;
  panel.dataset.kind = d.kind;
  const flat = d.output_shape.length === 1;
  heading(panel, d, close, flat ? "unit" : "channel");
  const body = h("div", { class: "layer-detail", "data-testid": "layer-detail", "data-kind": d.kind });
  panel.append(body);
  const draw = { activation: mapStep, batchnorm: mapStep, pool: poolStep, dense: dense, "dense-activation": vectorActivation, add: add, note: note }[d.kind];
  const stepper = draw(body, d);
  panel.dataset.ready = "true";
  return { stepper: stepper || null };
}

// ---- a map, value by value: an activation layer, batch normalization -----------------------
function mapStep(body, d) {
  const before = d.before;
  const after = d.after;
  const bn = d.kind === "batchnorm";
  if (bn) {
    body.append(
      h(
        "div",
        { class: "bn-numbers", "data-testid": "bn-numbers" },
        ["gamma", "beta", "moving_mean", "moving_variance", "epsilon"].map((k) =>
          h("div", { class: "bn-number" }, h("span", { class: "muted" }, k.replace("_", " ")), num(`bn-${k}`, d[k])),
        ),
      ),
      h(
        "p",
        { class: "formula", "data-testid": "bn-formula" },
        `y = gamma · (x − mean) / √(variance + ε) + beta = ${full(d.gamma)} · (x ${plusTerm(-d.moving_mean)}) / √(${full(d.moving_variance)} + ${full(d.epsilon)}) ${plusTerm(d.beta)} = ${full(d.factor)} · (x ${plusTerm(-d.moving_mean)}) ${plusTerm(d.beta)}`,
      ),
    );
  } else if (d.function === "relu" && d.zeroed !== null) {
    body.append(h("p", { class: "hint" }, `${d.zeroed} of the ${before.length * before[0].length} values of this map were negative and became 0.`));
  }
  const inScale = makeScale(before.flat(), "values");
  const outScale = makeScale(after.flat(), "values");
  const inHost = h("div", { class: "grid-host" });
  const outHost = h("div", { class: "grid-host" });
  const calc = h("div", { class: "calc-sum detail-sum", "data-testid": "layer-calc" });
  body.append(
    h(
      "div",
      { class: "detail-top" },
      h("div", {}, h("h4", {}, `Before: ${d.input_layer}'s map`), inHost, legend(inScale, "before")),
      h("div", {}, h("h4", {}, `After: ${d.layer}'s map`), outHost, legend(outScale, "after")),
    ),
    calc,
  );
  const size = { maxPx: 300, maxCell: 40 };
  const inGrid = new NumberGrid(inHost, { testid: "layer-before-grid", label: "before", ...size }).render(before, { scale: inScale });
  const outGrid = new NumberGrid(outHost, { testid: "layer-after-grid", label: "after", ...size }).render(after, { scale: outScale });
  const cols = before[0].length;
  const step = (k) => {
    const i = Math.floor(k / cols);
    const j = k % cols;
    inGrid.setCurrent(i, j);
    outGrid.setCurrent(i, j);
    const x = before[i][j];
    const y = after[i][j];
    const how = bn
      ? `${full(d.factor)} · (${full(x)} ${plusTerm(-d.moving_mean)}) ${plusTerm(d.beta)}`
      : d.function === "relu"
        ? `relu(${full(x)}) = max(0, ${full(x)})`
        : `${d.function}(${full(x)})`;
    clear(calc).append(
      h("div", {}, h("span", { class: "muted" }, `before[${i}, ${j}] = `), num("layer-before", x)),
      h("div", {}, h("span", { class: "muted" }, `after[${i}, ${j}] = `), how, " = ", num("layer-after", y)),
    );
  };
  return stepped(body, before.length * cols, step, (k) => `cell (${Math.floor(k / cols)}, ${k % cols})`, calc);
}

function stepped(body, count, onStep, where, before) {
  const host = h("div", {});
  body.insertBefore(host, before || null);
  const stepper = new Stepper(host, { testid: "detail-step", onStep: (k) => { onStep(k); body.closest("#detail").dataset.k = k; }, describe: (k) => `${where(k)} · ${k + 1} of ${count}` });
  stepper.setCount(count, 0);
  setActive(stepper);
  return stepper;
}

// ---- pooling: the window, its max (the pick marked) or its mean -----------------------------
function poolStep(body, d) {
  const rows = d.padded.length;
  const cols = d.padded[0].length;
  const [ph, pw] = d.pool_size;
  const [sh, sw] = d.stride;
  const pads = d.pads;
  const isPad = (r, c) => r < pads.top || r >= rows - pads.bottom || c < pads.left || c >= cols - pads.right;
  const inScale = makeScale(d.padded.flat(), "values");
  const outScale = makeScale(d.output.flat(), "values");
  const inHost = h("div", { class: "grid-host" });
  const outHost = h("div", { class: "grid-host" });
  const winHost = h("div", { class: "mini" });
  const calc = h("div", { class: "calc-sum detail-sum", "data-testid": "layer-calc" });
  body.append(
    h(
      "div",
      { class: "detail-top" },
      h("div", {}, h("h4", {}, `The input: ${d.input_layer}'s map ${d.channel}`), inHost, legend(inScale, "input")),
      h("div", {}, h("h4", {}, "The window"), winHost),
      h("div", {}, h("h4", {}, `The output (${d.output.length} × ${d.output[0].length})`), outHost, legend(outScale, "output")),
    ),
    calc,
  );
  const inGrid = new NumberGrid(inHost, { testid: "pool-in-grid", maxPx: 320, maxCell: 40, label: "input map" }).render(d.padded, { isPad, scale: inScale });
  const outGrid = new NumberGrid(outHost, { testid: "pool-out-grid", maxPx: 220, maxCell: 48, label: "output map" }).render(d.output, { fillable: true, scale: outScale });
  const [oh, ow] = [d.output.length, d.output[0].length];
  const step = (k) => {
    const i = Math.floor(k / ow);
    const j = k % ow;
    const r0 = i * sh;
    const c0 = j * sw;
    const win = d.padded.slice(r0, r0 + ph).map((row) => row.slice(c0, c0 + pw));
    inGrid.setWindow(r0, c0, ph, pw);
    const winGrid = new NumberGrid(winHost, { testid: "pool-window", maxPx: 160, maxCell: 40, minNumbers: 16 }).render(win, { scale: inScale, isPad: (r, c) => isPad(r + r0, c + c0) });
    outGrid.setFilled(k);
    outGrid.setCurrent(i, j);
    const y = d.output[i][j];
    let how;
    if (d.mode === "max") {
      const [pr, pc] = d.picked[i][j];
      inGrid.setPicked(pr, pc);
      winGrid.setPicked(pr - r0, pc - c0);
      how = [`max of the ${win.flat().filter((v) => v !== null).length} values = `, num("pool-max", d.padded[pr][pc], { "data-r": pr, "data-c": pc }), h("span", { class: "muted" }, ` (row ${pr}, column ${pc})`)];
    } else {
      how = [num("pool-sum", d.sums[i][j]), " / ", num("pool-count", d.counts[i][j]), " (the sum over the count of real cells)"];
    }
    clear(calc).append(
      h("div", {}, h("span", { class: "muted" }, `${d.mode}[${i}, ${j}]: `), ...how),
      h("div", {}, h("span", { class: "muted" }, `output[${i}, ${j}] = `), num("layer-after", y)),
    );
  };
  return stepped(body, oh * ow, step, (k) => `cell (${Math.floor(k / ow)}, ${k % ow})`, calc);
}

// ---- dense: the dot product as a sum of shares, then the activation -------------------------
function dense(body, d) {
  const shareScale = makeScale([-d.share_extent, d.share_extent], "weights");
  const rows = d.shares.map((s) => {
    const c = shareScale(s.share);
    return h(
      "div",
      { class: "share-row", "data-testid": "dense-share", "data-index": s.index, "data-value": String(s.share) },
      h("span", { class: "muted" }, `input ${s.index}`),
      h("span", { class: "mono" }, `${full(s.input)} × ${full(s.weight)}`),
      h("span", { class: "share-chip", style: { background: c.fill, color: c.text } }, full(s.share)),
    );
  });
  const z = d.z_unit;
  body.append(
    h("h4", {}, `Unit ${d.channel}: its ${d.n_inputs} inputs (from ${d.input_layer}) times its weights, largest shares first`),
    h("div", { class: "share-rows" }, rows),
    legend(shareScale, "share = input × weight"),
    h(
      "div",
      { class: "calc-sum detail-sum", "data-testid": "layer-calc" },
      d.rest.count ? h("div", {}, h("span", { class: "muted" }, `the other ${d.rest.count} shares add up to `), num("dense-rest", d.rest.sum)) : null,
      h("div", {}, h("span", { class: "muted" }, "bias "), num("dense-bias", d.bias)),
      h("div", {}, h("span", { class: "muted" }, `z${sub(d.channel)} = the ${d.n_inputs} shares ${plusTerm(d.bias)} = `), num("dense-z", z)),
    ),
  );
  activationPart(body, d.activation, d.layer);
}

const SUB = "₀₁₂₃₄₅₆₇₈₉";
const sub = (n) => String(n).split("").map((c) => SUB[Number(c)]).join("");

function vectorActivation(body, d) {
  activationPart(body, d.activation, d.layer);
}

/** The activation of a vector: every unit's z and output; softmax and sigmoid with their formula. */
function activationPart(outer, a, layer) {
  const c = a.unit;
  const out = a.output;
  const z = a.z;
  const body = h("div", { class: "activation-part", "data-testid": "activation-part", "data-function": a.function });
  outer.append(body);
  body.append(h("h4", {}, `Then ${a.function}: from z to ${layer}'s output`));
  if (a.function === "softmax") {
    const shift = a.shift ? ` (every z less ${full(a.shift)}, the largest, so no exp overflows: the same ratios)` : "";
    body.append(
      h(
        "p",
        { class: "formula", "data-testid": "softmax-formula" },
        `p${sub(c)} = exp(z${sub(c)}) / Σ exp(zⱼ) = ${full(a.exp[c])} / ${full(a.sum_exp)} = `,
        num("softmax-p", out[c]),
        shift,
      ),
    );
  } else if (a.function === "sigmoid") {
    body.append(
      h(
        "p",
        { class: "formula", "data-testid": "sigmoid-formula" },
        `p${sub(c)} = 1 / (1 + exp(−z${sub(c)})) = 1 / (1 + ${full(a.exp_neg[c])}) = `,
        num("sigmoid-p", out[c]),
      ),
    );
  } else {
    body.append(h("p", { class: "formula" }, `${a.function}(${full(z[c])}) = `, num("activation-out", out[c])));
  }
  const probs = a.function === "softmax" || a.function === "sigmoid";
  const head = ["unit", "z", a.function === "softmax" ? "exp(z)" : a.function === "sigmoid" ? "exp(−z)" : null, probs ? "probability" : "output"].filter(Boolean);
  const table = h(
    "table",
    { class: "act-table", "data-testid": "activation-table" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      z.map((v, n) =>
        h(
          "tr",
          { class: n === c ? "chosen" : "", "data-testid": "activation-row", "data-unit": n, "data-z": String(v), "data-p": String(out[n]) },
          h("td", {}, n),
          h("td", {}, full(v)),
          a.function === "softmax" ? h("td", {}, full(a.exp[n])) : a.function === "sigmoid" ? h("td", {}, full(a.exp_neg[n])) : null,
          h("td", {}, probs ? `${full(out[n])} (${(out[n] * 100).toFixed(1)}%)` : full(out[n])),
        ),
      ),
    ),
  );
  body.append(table);
}

// ---- add, and the one-line layers -------------------------------------------------------------
function add(body, d) {
  const [i, j] = d.cell;
  body.append(
    h(
      "div",
      { class: "calc-sum detail-sum", "data-testid": "layer-calc" },
      h("div", { class: "muted" }, `At cell (${i}, ${j}) of channel ${d.channel} (its largest value):`),
      h("div", {}, d.inputs.map((x, n) => [n ? " + " : "", h("span", { class: "muted" }, `${x.layer} `), num("add-input", x.value)]), " = ", num("layer-after", d.value)),
    ),
  );
}

function note(body, d) {
  const e = d.example;
  body.append(
    e
      ? h(
          "div",
          { class: "calc-sum detail-sum", "data-testid": "layer-calc" },
          h("span", { class: "muted" }, `for example ${d.input_layer}[${e.at_before.join(", ")}] = `),
          num("layer-before", e.before),
          h("span", { class: "muted" }, ` → ${d.layer}[${e.at_after.join(", ")}] = `),
          num("layer-after", e.after),
        )
      : null,
  );
}
