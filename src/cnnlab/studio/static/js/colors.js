// Colour scales for numbers in cells: sequential (white to blue) for values that are never
// negative, diverging (blue, white, red) around 0 otherwise, as in CNN Explainer.

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

const WHITE = [255, 255, 255];
const BLUE = [33, 82, 156];
const RED = [196, 43, 52];
const INK = [28, 39, 61];

/**
 * A scale for these values: scale(v) -> {fill, text}. Null values (pooling's padding) get none.
 */
export function makeScale(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) lo = hi = 0;
  const signed = lo < 0;
  const extent = signed ? Math.max(Math.abs(lo), Math.abs(hi)) || 1 : hi || 1;
  const scale = (v) => {
    if (v === null || v === undefined) return { fill: "transparent", text: "#8a94a6", t: 0 };
    let rgb;
    let t;
    if (signed) {
      t = Math.max(-1, Math.min(1, v / extent));
      rgb = t < 0 ? mix(WHITE, BLUE, -t) : mix(WHITE, RED, t);
    } else {
      t = Math.max(0, Math.min(1, v / extent));
      rgb = mix(WHITE, INK, t * 0.92);
    }
    const dark = Math.abs(t) > 0.55;
    return { fill: `rgb(${rgb.join(",")})`, text: dark ? "#fff" : "#1c273d", t };
  };
  scale.signed = signed;
  scale.lo = lo;
  scale.hi = hi;
  return scale;
}

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
