// The explorer's network, after explorer.js drew it: the range its feature maps are coloured on
// (per map, per layer, whole network: one sequential scale for activations, CNN Explainer's
// choice) with the legend of the range in use, and the units of one-dimensional layers
// (Dense, softmax) opened like a feature map.

import { getJSON, runPath } from "./api.js";
import { legend, makeScale, full } from "./colors.js";
import { $, $$, h, clear } from "./dom.js";
import { showDetail } from "./detail.js";
import { guard } from "./status.js";

const CHOICES = [
  ["map", "per map"],
  ["layer", "per layer"],
  ["network", "whole network"],
];
let choice = "layer";
let seq = 0;
let last = null;

/** The range control, made once above the network. */
function control(host) {
  let box = $("#explore-range");
  if (box) return box;
  const select = h(
    "select",
    { id: "explore-range-choice", "data-testid": "explore-range" },
    CHOICES.map(([value, label]) => h("option", { value }, label)),
  );
  select.value = choice;
  select.addEventListener("change", () => {
    choice = select.value;
    if (last) guard(() => apply(last.host, last.answer));
  });
  box = h(
    "div",
    { id: "explore-range", class: "range-control", "data-testid": "explore-range-box" },
    h("label", {}, "Colour range of the maps ", select),
    h("span", { class: "range-legends", "data-testid": "explore-range-legend" }),
  );
  host.parentNode.insertBefore(box, host);
  return box;
}

/** Called by explorer.js each time it has drawn the network of `answer`. */
export function afterNetwork(host, answer) {
  control(host);
  openUnits(host, answer);
  last = { host, answer };
  guard(() => apply(host, answer));
}

async function apply(host, a) {
  const mine = ++seq;
  host.dataset.range = choice;
  host.dataset.rangeReady = "false";
  let layers;
  let network = null;
  if (choice === "layer") {
    layers = a.layers.filter((l) => l.maps).map((l) => ({ name: l.name, maps: l.maps, scale: l.scale, range: l.scale === "diverging" ? symmetric(l.range) : l.range, ranges: null }));
  } else {
    const got = await getJSON(`${runPath(a.run)}/explore/${encodeURIComponent(a.image_id)}/maps?range=${choice}`);
    if (mine !== seq) return;
    layers = got.layers;
    network = got.network;
  }
  for (const layer of layers) {
    const column = host.querySelector(`[data-testid="layer"][data-name="${CSS.escape(layer.name)}"]`);
    if (!column) continue;
    const imgs = $$('[data-testid="feature-map"]', column);
    imgs.forEach((img, c) => {
      img.src = layer.maps[c];
      const r = layer.ranges ? layer.ranges[c] : layer.range;
      img.dataset.rangeLo = String(r[0]);
      img.dataset.rangeHi = String(r[1]);
    });
    const head = column.querySelector(".layer-head");
    const old = head.querySelector('[data-testid="legend"], .legend-note');
    const kind = layer.scale === "diverging" ? "weights" : "values";
    const fresh = layer.range ? legend(makeScale(layer.range, kind), "") : h("span", { class: "legend-note", title: "each map on its own range: hover a map" }, "each map its own");
    if (old) old.replaceWith(fresh);
    else head.append(fresh);
  }
  describe(network, layers);
  host.dataset.rangeReady = "true";
}

const symmetric = ([lo, hi]) => {
  const e = Math.max(Math.abs(lo), Math.abs(hi));
  return [-e, e];
};

/** The legend of the range in use, beside the control. */
function describe(network, layers) {
  const host = clear($('[data-testid="explore-range-legend"]'));
  if (choice === "layer") {
    host.append(h("span", { class: "muted" }, "each layer on its own range (the bar under its name)"));
  } else if (choice === "map") {
    host.append(h("span", { class: "muted" }, "each map on its own min … max (hover a map); signed maps blue-white-red around 0"));
  } else {
    if (network.sequential) host.append(legend(makeScale(network.sequential, "values"), "activations"));
    if (network.diverging) host.append(legend(makeScale([-network.diverging, network.diverging], "weights"), "signed"));
  }
  if (choice !== "layer") {
    for (const layer of layers) {
      if (!layer.ranges) continue;
      const column = document.querySelector(`[data-testid="layer"][data-name="${CSS.escape(layer.name)}"]`);
      $$('[data-testid="feature-map"]', column).forEach((img, c) => {
        const [lo, hi] = layer.ranges[c];
        img.title = `${layer.name}, channel ${c}: coloured on ${full(lo)} … ${full(hi)} — click to see how it was made`;
      });
    }
  }
}

/** One-dimensional layers: a unit's bar (or the strip of a long layer) opens its explanation,
 * and every layer without maps gets a "how?" button (Flatten, Dropout: one line). */
function openUnits(host, a) {
  for (const layer of a.layers) {
    if (!layer.detail || layer.maps) continue;
    const column = host.querySelector(`[data-testid="layer"][data-name="${CSS.escape(layer.name)}"]`);
    if (!column) continue;
    const open = (unit) => {
      $$(".fmap.selected, .value-row.selected").forEach((el) => el.classList.remove("selected"));
      guard(() => showDetail({ run: a.run, imageId: a.image_id, layer: layer.name, channel: unit, previous: "" }));
    };
    const rows = $$('[data-testid="unit-value"]', column);
    rows.forEach((row, n) => {
      row.classList.add("clickable");
      row.dataset.unit = n;
      row.tabIndex = n === 0 ? 0 : -1; // one Tab stop per layer; the arrow keys move among its units
      row.title += " — click to see how it was made";
      const go = () => {
        open(n);
        row.classList.add("selected");
      };
      row.addEventListener("click", go);
      row.addEventListener("keydown", (event) => {
        const to = { ArrowDown: n + 1, ArrowUp: n - 1 }[event.key];
        if (event.key === "Enter" || event.key === " ") go();
        else if (to !== undefined && rows[to]) rows[to].focus();
        else return;
        event.preventDefault();
        event.stopPropagation();
      });
    });
    const strip = column.querySelector("canvas.value-strip");
    if (strip) {
      strip.classList.add("clickable");
      strip.addEventListener("click", (event) => {
        const box = strip.getBoundingClientRect();
        const side = strip.width;
        const r = Math.floor(((event.clientY - box.top) / box.height) * side);
        const c = Math.floor(((event.clientX - box.left) / box.width) * side);
        open(Math.min(layer.n_values - 1, r * side + c));
      });
    }
    const best = layer.values ? layer.values.indexOf(Math.max(...layer.values)) : 0;
    column.querySelector(".layer-head").append(
      h("button", { type: "button", class: "how", "data-testid": "layer-how", title: `how ${layer.name} made its output`, onclick: () => open(best) }, "how?"),
    );
  }
}
