// Click a cell (or hover it while the step-through is paused) to move the window there: an
// output cell (i, j) is step i * ow + j; an input cell (in the padded grid) is the first output,
// row by row, whose window covers it (a cell no window covers, in a gap of a stride larger than
// the window or past the last window, goes to the next window down and right, or the last).

import { setActive } from "./stepper.js";

/** The first output index along one axis whose window [o * stride, o * stride + size) covers
 * padded position `p` (clamped to 0..count - 1). */
export function firstCovering(p, size, stride, count) {
  const o = Math.ceil((p - size + 1) / stride);
  return Math.max(0, Math.min(count - 1, o));
}

/** The step (row-major over the output) an input cell (r, c) of the padded grid moves to. */
export function stepOfInputCell(r, c, { window: [kh, kw], stride: [sh, sw], output: [oh, ow] }) {
  return firstCovering(r, kh, sh, oh) * ow + firstCovering(c, kw, sw, ow);
}

/**
 * Make a NumberGrid's cells pickable: `onPick(r, c)` on a click, and on hover while `hover()`
 * is true (the step-through paused). The listener sits on the grid's host, so it survives the
 * grid being drawn again. A hover counts only when the pointer really moved (the browser's own
 * repeated moves after a layout change do not step).
 */
export function pickCells(grid, onPick, { hover = () => false } = {}) {
  let last = null;
  let hovered = null;
  const cellOf = (event) => {
    const g = event.target.closest && event.target.closest("g.cell");
    if (!g || !grid.svg || !grid.svg.contains(g)) return null;
    return [Number(g.dataset.r), Number(g.dataset.c)];
  };
  grid.host.classList.add("pickable");
  grid.host.addEventListener("click", (event) => {
    const cell = cellOf(event);
    if (cell) onPick(cell[0], cell[1]);
  });
  grid.host.addEventListener("pointermove", (event) => {
    const at = `${event.clientX},${event.clientY}`;
    const moved = last !== null && last !== at;
    last = at;
    if (!moved || !hover()) return;
    const cell = cellOf(event);
    if (!cell || String(cell) === hovered) return;
    hovered = String(cell);
    onPick(cell[0], cell[1]);
  });
  grid.host.addEventListener("pointerleave", () => (last = hovered = null));
}

/** A stage's input grid(s) and output grid made pickable for its stepper; `geometry()` gives
 * {window: [kh, kw], stride: [sh, sw], output: [oh, ow]} of the result shown (or null). */
export function pickableStage(inGrids, outGrid, stepper, geometry) {
  const paused = () => !stepper.timer && Boolean(geometry());
  const go = (k) => {
    setActive(stepper);
    stepper.pause();
    stepper.go(k);
  };
  for (const grid of [].concat(inGrids)) pickCells(grid, (r, c) => geometry() && go(stepOfInputCell(r, c, geometry())), { hover: paused });
  pickCells(outGrid, (i, j) => geometry() && go(i * geometry().output[1] + j), { hover: paused });
}
