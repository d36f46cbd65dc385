// Rows of numbers typed as text (the playground's "Type" box, a link's grid).

/** Rows of numbers from the text box; throws with a one-line reason. */
export function parseGrid(text, limit = 64) {
  const rows = text
    .trim()
    .split(/\n+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.split(/[\s,;]+/).filter(Boolean).map(Number));
  if (!rows.length) throw new Error("the grid is empty: type rows of numbers");
  const width = rows[0].length;
  rows.forEach((row, r) => {
    if (row.length !== width) throw new Error(`grid row ${r + 1} has ${row.length} numbers, row 1 has ${width}`);
    row.forEach((v, c) => {
      if (!Number.isFinite(v)) throw new Error(`grid row ${r + 1}, number ${c + 1} is not a number`);
    });
  });
  if (rows.length > limit || width > limit) throw new Error(`the grid is ${rows.length} × ${width}; at most ${limit} × ${limit}`);
  return rows;
}
