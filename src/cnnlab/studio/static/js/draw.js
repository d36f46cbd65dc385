// A drawing pad: white ink on black (as the built-in digits are), read back as an N x N grid
// of 0..255 (the mean of each block) or as a PNG blob for an upload.

import { h } from "./dom.js";

const SIDE = 192; // divisible by 8, 16, 32 and 64: blocks are whole pixels

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
    const ctx = this.ctx;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = SIDE / 11;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0] + 0.01, b[1]);
    ctx.stroke();
    this.empty = false;
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, SIDE, SIDE);
    this.empty = true;
  }

  /** The drawing as n x n integers 0..255 (block means of the red channel). */
  toGrid(n) {
    const data = this.ctx.getImageData(0, 0, SIDE, SIDE).data;
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

  /** The drawing as a PNG Blob. */
  toBlob() {
    return new Promise((resolve, reject) =>
      this.canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the drawing could not be encoded as PNG"))), "image/png"),
    );
  }
}
