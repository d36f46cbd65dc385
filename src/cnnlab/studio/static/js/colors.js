// The studio's one colour language (docs/studio.md, "Colours"):
// - images (inputs) in gray as the picture is: black is 0, white is the brightest pixel value
//   (255 for pixels, 1 for scaled pixels);
// - activations (values that are never negative) in viridis, dark purple (low) to yellow (high),
//   as the explorer's feature maps are;
// - weights (kernels) and signed values in blue-white-red, white at 0.
// makeScale(values, kind) gives scale(v) -> {fill, text} for a grid's cells; legend() draws
// a scale's colour bar.

import { h } from "./dom.js";

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

const WHITE = [255, 255, 255];
const BLUE = [33, 82, 156];
const RED = [196, 43, 52];
const BLACK = [0, 0, 0];

// matplotlib's viridis, 256 RGB colours (the same table as cnnlab.studio.encode.VIRIDIS).
const VIRIDIS_HEX =
  "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769" +
  "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a" +
  "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85" +
  "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b" +
  "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d" +
  "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e" +
  "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e" +
  "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d" +
  "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88" +
  "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81" +
  "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74" +
  "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863" +
  "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d" +
  "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32" +
  "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a" +
  "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";
export const VIRIDIS = Array.from({ length: 256 }, (_, n) => [0, 2, 4].map((o) => parseInt(VIRIDIS_HEX.slice(n * 6 + o, n * 6 + o + 2), 16)));

function luminance(rgb) {
  return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}

function range(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) lo = hi = 0;
  return [lo, hi];
}

/** The white a picture's values reach: 255 for pixels, 1 for scaled pixels, else its maximum. */
export function imageWhite(hi) {
  if (hi <= 1) return 1;
  if (hi <= 255) return 255;
  return hi;
}

/**
 * A scale for these values: scale(v) -> {fill, text, rgb}; null values (pooling's padding) get
 * none. kind: "image" (gray, 0 black, `white` white), "weights" (blue-white-red around 0,
 * always), or "values" (viridis when none is negative, else blue-white-red around 0).
 */
export function makeScale(values, kind = "values", opts = {}) {
  const [lo, hi] = range(values);
  const isImage = kind === "image" && lo >= 0;
  const diverging = !isImage && (kind === "weights" || lo < 0);
  const extent = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const white = isImage ? opts.white || imageWhite(hi) : 0;
  const colour = (v) => {
    if (isImage) return mix(BLACK, WHITE, Math.max(0, Math.min(1, v / white)));
    if (diverging) {
      const t = Math.max(-1, Math.min(1, v / extent));
      return t < 0 ? mix(WHITE, BLUE, -t) : mix(WHITE, RED, t);
    }
    const t = hi > lo ? (v - lo) / (hi - lo) : 0;
    return VIRIDIS[Math.round(Math.max(0, Math.min(1, t)) * 255)];
  };
  const scale = (v) => {
    if (v === null || v === undefined) return { fill: "transparent", text: "#8a94a6", rgb: null };
    const rgb = colour(v);
    return { fill: `rgb(${rgb.join(",")})`, text: luminance(rgb) < 128 ? "#fff" : "#1c273d", rgb };
  };
  scale.kind = isImage ? "image" : diverging ? "diverging" : "sequential";
  scale.lo = isImage ? 0 : diverging ? -extent : lo;
  scale.hi = isImage ? white : diverging ? extent : hi;
  scale.colour = colour;
  scale.signed = diverging;
  return scale;
}

/** A colour bar of `scale` with its two ends (and 0 for a diverging one). */
export function legend(scale, label = "") {
  const stops = Array.from({ length: 11 }, (_, n) => {
    const v = scale.lo + ((scale.hi - scale.lo) * n) / 10;
    return `rgb(${scale.colour(v).join(",")}) ${n * 10}%`;
  });
  const names = { image: "image: gray as the picture", sequential: "activation: viridis", diverging: "signed: blue < 0 < red" };
  return h(
    "div",
    { class: "scale-legend", "data-testid": "legend", "data-kind": scale.kind, title: names[scale.kind] },
    label ? h("span", { class: "legend-label" }, label) : "",
    h("span", { class: "legend-end" }, short(scale.lo)),
    h("span", { class: "legend-bar", style: { background: `linear-gradient(to right, ${stops.join(", ")})` } }),
    h("span", { class: "legend-end" }, short(scale.hi)),
  );
}

const short = (v) => String(Number(Number(v).toPrecision(3)));

/** A number short enough for a cell of `cell` pixels. */
export function fmt(v, cell = 40) {
  if (v === null || v === undefined) return "";
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  const room = cell >= 40 ? 3 : 2;
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(Math.max(0, room - 2));
  if (abs >= 1) return v.toFixed(room - 1);
  if (abs < 0.005) return "0";
  return v.toFixed(room);
}

/** A number in full for tooltips and formulas (up to 6 significant digits). */
export function full(v) {
  if (v === null || v === undefined) return "—";
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

/** `+ b` or `− b` (a true minus) for a term added to a sum. */
export function plusTerm(b) {
  return b < 0 ? `− ${full(-b)}` : `+ ${full(b)}`;
}
