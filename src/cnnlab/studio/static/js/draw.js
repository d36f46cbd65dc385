// A drawing pad: white ink on black (as the built-in digits are), read back as an N x N grid
// of 0..255 (the mean of each block) or as a PNG blob for an upload. The pen is as wide as the
// digits' strokes (2.5 pixels of 16); for a model, the drawing is first scaled to the digits'
// extent and centred by its centre of mass (as MNIST's digits are).

import { h } from "./dom.js";

const SIDE = 192; // divisible by 8, 16, 32 and 64: blocks are whole pixels
export const PEN = (SIDE * 2.5) / 16; // the built-in digits at 16 x 16 have strokes 2-3 pixels wide
export const EXTENT = 0.82; // the strokes' centre lines span this much of the side (the pen adds the rest)

export class DrawPad {
  constructor(host, { testid = "draw", onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.canvas = h("canvas", { width: SIDE, height: SIDE, class: "drawpad", "data-testid": `${testid}-canvas` });
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.empty = true;
    this.clear();
    host.append(this.canvas);
    let last = null;
    const point = (event) => {
      const rect = this.canvas.getBoundingClientRect();
      return [((event.clientX - rect.left) * SIDE) / rect.width, ((event.clientY - rect.top) * SIDE) / rect.height];
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      this.canvas.setPointerCapture(event.pointerId);
      last = point(event);
      this.strokes.push([]);
      this.stroke(last, last);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const p = point(event);
      this.stroke(last, p);
      last = p;
    });
    const end = () => {
      if (last) this.onChange();
      last = null;
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  stroke(a, b) {
    if (!this.strokes.length) this.strokes.push([]);
    const line = this.strokes[this.strokes.length - 1];
    if (!line.length) line.push(a);
    line.push(b);
    drawLine(this.ctx, a, b, PEN);
    this.empty = false;
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, SIDE, SIDE);
    this.strokes = [];
    this.empty = true;
  }

  /** The strokes redrawn on a new canvas, scaled by `s` and moved by (dx, dy), the pen as wide
   * as on the pad. */
  _render(s, dx, dy) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIDE;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, SIDE, SIDE);
    for (const line of this.strokes) {
      const at = (p) => [p[0] * s + dx, p[1] * s + dy];
      for (let n = 1; n < line.length; n++) drawLine(ctx, at(line[n - 1]), at(line[n]), PEN);
    }
    return canvas;
  }

  /** The drawing scaled so that its strokes span the digits' extent, and moved so that its
   * centre of mass is the centre (a canvas as large as the pad). */
  centred() {
    const points = this.strokes.flat();
    if (!points.length) return this.canvas;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const s = (EXTENT * SIDE) / Math.max(x1 - x0, y1 - y0, SIDE / 8);
    const first = this._render(s, SIDE / 2 - ((x0 + x1) / 2) * s, SIDE / 2 - ((y0 + y1) / 2) * s);
    const [cx, cy] = centreOfMass(first);
    return this._render(s, SIDE / 2 - ((x0 + x1) / 2) * s + (SIDE / 2 - cx), SIDE / 2 - ((y0 + y1) / 2) * s + (SIDE / 2 - cy));
  }

  /** The drawing as n x n integers 0..255 (block means of the red channel); `centred`: of
   * {@link centred}'s canvas. */
  toGrid(n, { centred = false } = {}) {
    const source = centred ? this.centred() : this.canvas;
    const data = source.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, SIDE, SIDE).data;
    const block = SIDE / n;
    const grid = [];
    for (let r = 0; r < n; r++) {
      const row = [];
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let y = r * block; y < (r + 1) * block; y++) {
          for (let x = c * block; x < (c + 1) * block; x++) sum += data[(y * SIDE + x) * 4];
        }
        row.push(Math.round(sum / (block * block)));
      }
      grid.push(row);
    }
    return grid;
  }

  /** The drawing as a PNG Blob (`centred`: of {@link centred}'s canvas). */
  toBlob({ centred = false } = {}) {
    const source = centred ? this.centred() : this.canvas;
    return new Promise((resolve, reject) =>
      source.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the drawing could not be encoded as PNG"))), "image/png"),
    );
  }
}

function drawLine(ctx, a, b, width) {
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0] + 0.01, b[1]);
  ctx.stroke();
}

/** The brightness-weighted centre (x, y) of a canvas, in pixels (pixel centres at +0.5). */
export function centreOfMass(canvas) {
  const data = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, canvas.width, canvas.height).data;
  let total = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const v = data[(y * canvas.width + x) * 4];
      total += v;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
    }
  }
  return total ? [sx / total, sy / total] : [canvas.width / 2, canvas.height / 2];
}
