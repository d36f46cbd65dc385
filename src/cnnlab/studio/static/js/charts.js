// SVG charts: learning curves with a hover read-out, the class-probability bars and the
// confusion matrix.

import { h, svg, clear } from "./dom.js";
import { showTip, hideTip } from "./tooltip.js";

const COLOURS = { train: "#2f6fd0", val: "#e0803a" };

function niceTicks(lo, hi, count = 4) {
  if (hi === lo) hi = lo + 1;
  const step0 = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

/** 1, 2 and 5 times the powers of ten from lo to hi (only the powers when many decades). */
function logTicks(lo, hi) {
  const ticks = [];
  const few = Math.log10(hi / lo) <= 2.5;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = Number((m * Math.pow(10, e)).toPrecision(6));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

/** The log axis's ends: 1, 2 or 5 times a power of ten, below `v` (down) or above it (up). */
function logBound(v, up) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  const steps = up ? [1, 2, 5, 10] : [5, 2, 1];
  return Number((p * steps.find((m) => (up ? m * p >= v * (1 - 1e-9) : m * p <= v * (1 + 1e-9)))).toPrecision(6));
}

const tickText = (v) => String(Number(v.toPrecision(4)));

/**
 * A line chart of one metric per epoch: series = [{name, values, colour, dash}] (values may
 * hold null). `log`: a log-scale y axis (values <= 0 are left out). `best`: the best epoch, or
 * [{epoch, colour, label}], each a dotted line with its label at the top.
 */
export function lineChart(host, { title, series, testid, percent = false, best = null, log = false }) {
  const width = 420;
  const height = 230;
  const m = { left: 48, right: 14, top: 12, bottom: 34 };
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const usable = (v) => v !== null && v !== undefined && Number.isFinite(v) && (!log || v > 0);
  const all = series.flatMap((s) => s.values).filter(usable);
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (log) {
    lo = logBound(all.length ? lo : 0.1, false);
    hi = logBound(all.length ? hi : 1, true);
    if (hi <= lo) [lo, hi] = [logBound(lo * 0.99, false), logBound(hi * 1.01, true)];
  } else if (percent) {
    lo = Math.max(0, Math.floor(lo * 10) / 10);
    hi = Math.min(1, Math.ceil(hi * 10) / 10);
  } else {
    lo = Math.min(0, lo);
  }
  if (hi - lo < 1e-12) hi = lo + 1;
  const bests = best === null || best === undefined ? [] : typeof best === "number" ? [{ epoch: best }] : best;
  const labels = bests.filter((b) => b.label).length;
  if (labels && !log && !percent) hi += (hi - lo) * 0.09 * (labels + 1); // room for the labels
  const t = (v) => (log ? Math.log10(v) : v);
  const x = (e) => m.left + (n === 1 ? (width - m.left - m.right) / 2 : (e * (width - m.left - m.right)) / (n - 1));
  const y = (v) => m.top + ((t(hi) - t(v)) * (height - m.top - m.bottom)) / (t(hi) - t(lo));
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, "data-testid": testid, "data-scale": log ? "log" : "linear", role: "img", "aria-label": title });
  const axis = svg("g", { class: "axis" });
  for (const v of log ? logTicks(lo, hi) : niceTicks(lo, hi)) {
    axis.append(
      svg("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: "gridline" }),
      svg("text", { x: m.left - 6, y: y(v), "text-anchor": "end", "dominant-baseline": "middle", class: "tick-y", "data-value": v, text: percent ? `${Math.round(v * 100)}%` : tickText(v) }),
    );
  }
  const every = Math.max(1, Math.ceil(n / 10));
  for (let e = 0; e < n; e += every) {
    axis.append(svg("text", { x: x(e), y: height - m.bottom + 16, "text-anchor": "middle", text: e + 1 }));
  }
  axis.append(svg("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle", class: "axis-title", text: "epoch" }));
  root.append(axis);
  bests.forEach((b, k) => {
    if (!b.epoch || b.epoch > n) return;
    const bx = x(b.epoch - 1);
    const style = b.colour ? { stroke: b.colour } : null;
    root.append(svg("line", { x1: bx, x2: bx, y1: m.top, y2: height - m.bottom, class: "best-line", style }));
    if (!b.label) return;
    const right = bx > (m.left + width - m.right) / 2;
    root.append(
      svg("text", {
        x: bx + (right ? -4 : 4),
        y: m.top + 9 + k * 13,
        "text-anchor": right ? "end" : "start",
        class: "best-label",
        fill: b.colour || "#2a8a4a",
        "data-testid": "best-label",
        "data-epoch": b.epoch,
        text: b.label,
      }),
    );
  });
  for (const s of series) {
    const points = s.values.map((v, e) => (usable(v) ? [x(e), y(v)] : null));
    const d = points.reduce((acc, p, e) => (p ? `${acc}${acc && points[e - 1] ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}` : acc), "");
    root.append(svg("path", { d, class: "line", stroke: s.colour, "stroke-dasharray": s.dash ? "6 4" : null, "data-series": s.name, "data-run": s.run || null }));
    points.forEach((p) => p && root.append(svg("circle", { cx: p[0], cy: p[1], r: n > 40 ? 1.5 : 3, fill: s.colour })));
  }
  const cursor = svg("line", { class: "cursor", y1: m.top, y2: height - m.bottom, visibility: "hidden" });
  root.append(cursor);
  const overlay = svg("rect", { x: m.left, y: m.top, width: width - m.left - m.right, height: height - m.top - m.bottom, fill: "transparent" });
  overlay.addEventListener("mousemove", (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) * width) / box.width;
    const e = n === 1 ? 0 : Math.max(0, Math.min(n - 1, Math.round(((px - m.left) * (n - 1)) / (width - m.left - m.right))));
    cursor.setAttribute("x1", x(e));
    cursor.setAttribute("x2", x(e));
    cursor.setAttribute("visibility", "visible");
    const lines = series.map((s) => {
      const v = s.values[e];
      return `${s.name}: ${v === null || v === undefined ? "—" : percent ? `${(v * 100).toFixed(2)}%` : Math.abs(v) < 0.01 ? v.toPrecision(3) : v.toFixed(4)}`;
    });
    root.dataset.hoverEpoch = e + 1;
    showTip(event, `epoch ${e + 1}\n${lines.join("\n")}`);
  });
  overlay.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    hideTip();
  });
  root.append(overlay);
  const legend = h(
    "div",
    { class: "chart-legend" },
    series.map((s) =>
      h(
        "span",
        { "data-testid": "legend-item", "data-series": s.name },
        h("i", { class: s.dash ? "dash" : null, style: s.dash ? { borderColor: s.colour } : { background: s.colour } }),
        s.name,
      ),
    ),
  );
  clear(host).append(h("div", { class: "chart-title" }, title), root, legend);
  return root;
}

export const CURVE_COLOURS = COLOURS;

/** Horizontal bars, one per class, most probable first: [{class, p}]. */
export function probabilityBars(host, probabilities, predicted) {
  const rows = [...probabilities].sort((a, b) => b.p - a.p);
  clear(host).append(
    h(
      "div",
      { class: "bars" },
      rows.map((row) =>
        h(
          "div",
          {
            class: `bar-row${row.class === predicted ? " top" : ""}`,
            "data-testid": "prob-row",
            "data-class": row.class,
            "data-p": String(row.p),
          },
          h("span", { class: "bar-label", title: row.class }, row.class),
          h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: { width: `${Math.max(0.5, row.p * 100)}%` } })),
          h("span", { class: "bar-value" }, `${(row.p * 100).toFixed(1)}%`),
        ),
      ),
    ),
  );
}

/** The confusion matrix as a table of coloured cells; onPick(trueIndex, predIndex). */
export function confusionMatrix(host, { class_names: names, matrix }, onPick) {
  const max = Math.max(1, ...matrix.flat());
  const short = names.length > 12;
  const table = h("table", { class: `confusion${short ? " dense" : ""}`, "data-testid": "confusion" });
  table.append(
    h(
      "thead",
      {},
      h("tr", {}, h("th", { class: "corner" }, h("span", {}, "true ↓ / predicted →")), names.map((n) => h("th", { class: "col", title: n }, h("span", {}, n)))),
    ),
  );
  const body = h("tbody");
  matrix.forEach((row, t) => {
    const rowTotal = row.reduce((a, b) => a + b, 0) || 1;
    body.append(
      h(
        "tr",
        {},
        h("th", { class: "rowhead", title: names[t] }, names[t]),
        row.map((count, p) => {
          const share = count / max;
          const diag = t === p;
          const colour = diag ? `rgba(47, 111, 208, ${0.08 + 0.85 * share})` : `rgba(214, 72, 64, ${count ? 0.12 + 0.8 * Math.sqrt(count / max) : 0})`;
          const td = h(
            "td",
            {
              class: `${diag ? "diag" : "off"}${count ? "" : " zero"}`,
              style: { background: colour, color: share > 0.5 ? "#fff" : "#1c273d" },
              title: `true ${names[t]}, predicted ${names[p]}: ${count} (${((100 * count) / rowTotal).toFixed(1)}% of the row)`,
              "data-testid": "confusion-cell",
              "data-true": t,
              "data-pred": p,
              "data-count": count,
              tabindex: count ? 0 : -1,
            },
            count ? String(count) : "",
          );
          if (count) {
            td.addEventListener("click", () => onPick(t, p, td));
            td.addEventListener("keydown", (event) => event.key === "Enter" && onPick(t, p, td));
          }
          return td;
        }),
      ),
    );
  });
  table.append(body);
  clear(host).append(table);
}
