// The model explorer's state in a link: the run, the image (test:17, a split and an index, or
// an upload's u:... while the server keeps it), and the open detail's layer, channel and cell:
// #explorer?run=digits-keras&image=test:17&layer=conv2d&channel=3&cell=4,5

import { detailState, hideDetail, showDetail } from "./detail.js";
import { linkView } from "./explorer.js";
import { parseCell, register } from "./links.js";
import { showError } from "./status.js";

export function explorerState() {
  const a = linkView.answer();
  const params = { run: linkView.run() };
  if (a) params.image = a.image_id.startsWith("s:") ? a.image_id.slice(2) : a.image_id;
  const d = detailState();
  if (a && d) Object.assign(params, { layer: d.layer, channel: d.channel, cell: d.cell ? d.cell.join(",") : null });
  return params;
}

const quoted = (v) => JSON.stringify(String(v));

async function openDetail(p, problems) {
  const a = linkView.answer();
  const at = a.layers.findIndex((l) => l.name === p.layer);
  const layer = a.layers[at];
  if (!layer) {
    problems.push(`layer ${quoted(p.layer)}: ${a.run} has no such layer (its layers: ${a.layers.map((l) => l.name).join(", ")})`);
    return;
  }
  if (!layer.detail) {
    problems.push(`layer ${quoted(p.layer)}: a ${layer.type} layer; only a Conv2D's maps open`);
    return;
  }
  const count = layer.maps.length;
  const channel = p.channel === undefined ? 0 : Number(p.channel);
  if (!/^\d+$/.test(String(p.channel ?? 0)) || channel >= count) {
    problems.push(`channel ${quoted(p.channel)}: ${layer.name} has channels 0 to ${count - 1}`);
    return;
  }
  const cell = p.cell === undefined ? null : parseCell(p.cell);
  const open = detailState();
  if (open && open.layer === layer.name && open.channel === channel && open.imageId === a.image_id) {
    if (cell && open.goTo(cell)) return;
  }
  document.querySelectorAll(".fmap.selected").forEach((el) => el.classList.remove("selected"));
  const img = document.querySelector(`.fmap[data-layer="${CSS.escape(layer.name)}"][data-channel="${channel}"]`);
  if (img) img.classList.add("selected");
  const previous = at > 0 ? a.layers[at - 1].name : "input";
  await showDetail({ run: a.run, imageId: a.image_id, layer: layer.name, channel, previous, cell });
  const d = detailState();
  if (p.cell !== undefined && (!cell || !d.cell || String(d.cell) !== String(cell))) {
    const [oh, ow] = layer.output_shape;
    problems.push(`cell ${quoted(p.cell)}: the map is ${oh} × ${ow}, its cells 0,0 to ${oh - 1},${ow - 1}`);
  }
}

/** Open a link's explorer state; a bad value is named in one line and a sane view is shown
 * (the first run, its first sample, no detail). */
export async function applyExplorer(p) {
  const problems = [];
  const runs = linkView.runs();
  if (!runs.length) {
    if (p.run !== undefined) showError(`link: run ${quoted(p.run)}: there are no runs in this folder`);
    return;
  }
  let run = p.run === undefined ? linkView.run() : p.run;
  if (!runs.some((r) => r.name === run)) {
    run = linkView.run() || runs[0].name;
    problems.push(`run ${quoted(p.run)}: no such run in this runs folder (showing ${run})`);
    p = {};
  }
  let imageId = null;
  if (p.image !== undefined) {
    if (/^(test|val|train):\d+$/.test(p.image)) imageId = `s:${p.image}`;
    else if (/^u:[0-9a-f]+$/.test(p.image)) imageId = p.image;
    else problems.push(`image ${quoted(p.image)}: expected test:INDEX (or val:, train:) or an upload's u:...`);
  }
  try {
    await linkView.open(run, imageId);
  } catch (error) {
    problems.push(`image ${quoted(p.image)}: ${error.message || error}`);
    p = {};
    await linkView.open(run, null);
  }
  if (!linkView.answer()) return;
  if (p.layer !== undefined) await openDetail(p, problems);
  else hideDetail();
  if (problems.length) showError(`link: ${problems.join("; ")}`);
}

register("explorer", { state: explorerState, apply: applyExplorer, show: () => linkView.onShow() });
