// A grid of numbers drawn in SVG: cells coloured by value, the numbers on them when the cells
// are large enough, padding cells hatched, a sliding window and a current-cell outline that move
// smoothly (CSS transitions), and output cells that fill in as the step-through advances.

import { makeScale, fmt, full } from "./colors.js";
import { svg, clear } from "./dom.js";
import { showTip, hideTip } from "./tooltip.js";

let uid = 0;
const CHAR_WIDTH = 0.62; // a digit's width in the grid's font, as a fraction of the font size

export class NumberGrid {
  /**
   * @param {HTMLElement} host where the SVG goes
   * @param {object} opts {testid, maxPx (largest side in pixels), maxCell, label}
   */
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = { maxPx: 420, maxCell: 46, minNumbers: 19, ...opts };
    this.id = `grid${uid++}`;
    this.cells = [];
    this.filled = -1;
  }

  /**
   * Draw `values` (rows of numbers; null = an empty padding cell).
   * opts: {isPad(r, c), scale, cell, fillable (cells start empty and fill in row-major order)}
   */
  render(values, opts = {}) {
    const rows = values.length;
    const cols = rows ? values[0].length : 0;
    const cell = opts.cell || NumberGrid.cellSize(rows, cols, this.opts);
    const scale = opts.scale || makeScale(values.flat());
    const isPad = opts.isPad || (() => false);
    const numbers = cell >= this.opts.minNumbers;
    const font = Math.max(7, Math.min(14, cell * (numbers && cell < 30 ? 0.34 : 0.3)));
    // A number is written only where it fits its cell (the tooltip always has it in full): the
    // short form first, one significant digit when that is too wide, else none.
    const fits = (text) => text.length * font * CHAR_WIDTH <= cell - 2;
    const label = (v) => {
      const text = fmt(v, cell);
      if (fits(text)) return text;
      const short = String(Number(v.toPrecision(1)));
      return fits(short) ? short : null;
    };
    this.rows = rows;
    this.cols = cols;
    this.cell = cell;
    this.values = values;
    const width = cols * cell;
    const height = rows * cell;
    const root = svg("svg", {
      class: "grid",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      "data-testid": this.opts.testid,
      "data-rows": rows,
      "data-cols": cols,
      role: "img",
      "aria-label": `${this.opts.label || "grid"}: ${rows} by ${cols}`,
    });
    const pattern = svg(
      "pattern",
      { id: `${this.id}-hatch`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: "#f3f5f9" }),
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#c9d1df", "stroke-width": 2 }),
    );
    root.append(svg("defs", {}, pattern));
    const body = svg("g", { class: "cells", style: { "font-size": `${font}px` } });
    this.cells = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = values[r][c];
        const pad = isPad(r, c);
        const colour = scale(v);
        const g = svg("g", {
          class: `cell${pad ? " pad" : ""}${opts.fillable ? " empty" : ""}`,
          "data-r": r,
          "data-c": c,
          "data-value": v === null ? "" : String(v),
          transform: `translate(${c * cell},${r * cell})`,
        });
        g.append(
          svg("rect", {
            width: cell,
            height: cell,
            fill: pad ? (v === null || v === 0 ? `url(#${this.id}-hatch)` : colour.fill) : colour.fill,
          }),
        );
        const text = numbers && v !== null ? label(v) : null;
        if (text !== null) {
          g.append(svg("text", { x: cell / 2, y: cell / 2, fill: pad ? "#8a94a6" : colour.text, text }));
        }
        body.append(g);
        this.cells.push(g);
      }
    }
    root.append(body);
    if (cell >= 6) {
      root.append(svg("rect", { class: "frame", x: 0.5, y: 0.5, width: width - 1, height: height - 1 }));
    }
    this.windowRect = svg("rect", { class: "window", rx: 2, width: cell, height: cell, visibility: "hidden" });
    this.currentRect = svg("rect", { class: "current", rx: 2, width: cell, height: cell, visibility: "hidden" });
    this.pickRect = svg("rect", { class: "picked", rx: 2, width: cell, height: cell, visibility: "hidden" });
    root.append(this.pickRect, this.windowRect, this.currentRect);
    root.addEventListener("mousemove", (event) => {
      const g = event.target.closest && event.target.closest("g.cell");
      if (!g || g.classList.contains("empty")) return hideTip();
      const v = g.dataset.value === "" ? null : Number(g.dataset.value);
      const where = `row ${g.dataset.r}, column ${g.dataset.c}${g.classList.contains("pad") ? " (padding)" : ""}`;
      showTip(event, `${where}\n${v === null ? "ignored by pooling" : full(v)}`);
    });
    root.addEventListener("mouseleave", hideTip);
    clear(this.host).append(root);
    this.svg = root;
    this.filled = opts.fillable ? -1 : rows * cols - 1;
    return this;
  }

  static cellSize(rows, cols, opts) {
    const side = Math.max(rows, cols, 1);
    return Math.max(3, Math.min(opts.maxCell || 46, Math.floor((opts.maxPx || 420) / side)));
  }

  _place(rect, r, c, h, w) {
    if (r === null || r === undefined) {
      rect.setAttribute("visibility", "hidden");
      return;
    }
    const first = rect.getAttribute("visibility") === "hidden";
    rect.setAttribute("width", w * this.cell);
    rect.setAttribute("height", h * this.cell);
    if (first) rect.style.transition = "none";
    rect.style.transform = `translate(${c * this.cell}px, ${r * this.cell}px)`;
    rect.setAttribute("visibility", "visible");
    if (first) {
      rect.getBoundingClientRect();
      rect.style.transition = "";
    }
  }

  /** Outline the h x w window whose top-left cell is (r, c); null hides it. */
  setWindow(r, c, h = 1, w = 1) {
    this._place(this.windowRect, r, c, h, w);
  }

  /** Outline one cell (the output cell being computed). */
  setCurrent(r, c) {
    this._place(this.currentRect, r, c, 1, 1);
  }

  /** Mark one cell (max pooling's pick). */
  setPicked(r, c) {
    this._place(this.pickRect, r, c, 1, 1);
  }

  /** Show cells 0..k (row-major) and hide the others. */
  setFilled(k) {
    const last = Math.min(k, this.cells.length - 1);
    if (last === this.filled) return;
    const lo = Math.min(last, this.filled) + 1;
    const hi = Math.max(last, this.filled);
    for (let n = Math.max(0, lo); n <= hi; n++) this.cells[n].classList.toggle("empty", n > last);
    this.filled = last;
  }

  cellAt(r, c) {
    return this.cells[r * this.cols + c];
  }
}

/** A small canvas picture of a grid of pixels (gray as the picture: 0 black, 255 white), `px`
 * pixels wide. */
export function gridThumb(values, px = 44) {
  const rows = values.length;
  const cols = values[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = cols;
  canvas.height = rows;
  canvas.className = "thumb-canvas";
  canvas.style.width = `${px}px`;
  canvas.style.height = `${Math.round((px * rows) / cols)}px`;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(cols, rows);
  const flat = values.flat();
  const scale = makeScale(flat, "image");
  flat.forEach((v, n) => image.data.set([...scale.colour(v), 255], n * 4));
  ctx.putImageData(image, 0, 0);
  return canvas;
}
