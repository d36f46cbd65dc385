// The playground's state in a link: the input (a built-in digit, a run's sample, typed numbers
// or a drawing's numbers), the kernel (a preset or its numbers), bias, stride, padding, the
// pooling and both step-throughs' cells:
// #playground?input=digits:3&kernel=vertical_edge&bias=0&stride=1&padding=valid&pool=max&
//   pool_size=2&pool_stride=2&pool_padding=valid&pool_of=conv&cell=2,3&pool_cell=0,1

import { getJSON } from "./api.js";
import { $, $$ } from "./dom.js";
import { register } from "./links.js";
import { parseGrid } from "./gridtext.js";
import { link, runConv } from "./playground.js";
import { showError } from "./status.js";

const rowsText = (grid) => grid.map((row) => row.join(",")).join(";");
const rowsOf = (text) => String(text).replace(/;/g, "\n").replace(/,/g, " ");
const cellText = (k, cols) => `${Math.floor(k / cols)},${k % cols}`;

function paddingText(prefix) {
  const choice = $(`#${prefix}-padding`).value;
  return choice === "number" ? String(Number($(`#${prefix}-padding-n`).value || 0)) : choice;
}

export function playgroundState() {
  const s = link.state();
  const params = { ...(s.origin || {}) };
  if ((params.input === "numbers" || params.input === "drawing") && s.input) params.grid = rowsText(s.input);
  const preset = $("#kernel-preset").value;
  params.kernel = preset === "custom" && s.kernel ? rowsText(s.kernel) : preset;
  params.bias = Number($("#conv-bias").value || 0);
  params.stride = Number($("#conv-stride").value || 1);
  params.padding = paddingText("conv");
  params.pool = $("#pool-mode").value;
  params.pool_size = Number($("#pool-size").value || 2);
  params.pool_stride = Number($("#pool-stride").value || params.pool_size);
  params.pool_padding = paddingText("pool");
  params.pool_of = $("#pool-source").value;
  const { conv, pool } = link.steppers();
  if (s.conv && conv.count) params.cell = cellText(conv.k, s.conv.output_shape[1]);
  if (s.pool && pool.count) params.pool_cell = cellText(pool.k, s.pool.output_shape[1]);
  return params;
}

const intIn = (text, lo, hi) => /^\d+$/.test(String(text)) && Number(text) >= lo && Number(text) <= hi;

/** Set a select (or a number input) from a link; false when the value is not one it takes. */
function setControl(id, value, ok) {
  if (!ok) return false;
  $(id).value = String(value);
  return true;
}

function setPadding(prefix, text, max) {
  if (text === "valid" || text === "same") return setControl(`#${prefix}-padding`, text, true);
  if (!intIn(text, 0, max)) return false;
  $(`#${prefix}-padding`).value = "number";
  $(`#${prefix}-padding-n`).value = String(Number(text));
  $(`#${prefix}-padding-n`).hidden = false;
  return true;
}

function setKernelFrom(text, problems) {
  const { presets } = link.state();
  if (presets[text]) {
    $("#kernel-preset").value = text;
    link.setKernel(presets[text]);
    return;
  }
  let kernel = null;
  try {
    kernel = parseGrid(rowsOf(text), 7);
  } catch {
    kernel = null;
  }
  if (!kernel || kernel.length !== kernel[0].length) {
    problems.push(`kernel ${JSON.stringify(text)}: neither a preset (${Object.keys(presets).join(", ")}) nor a square of numbers (rows split by ";", 1 × 1 to 7 × 7)`);
    return;
  }
  $("#kernel-preset").value = "custom";
  link.setKernel(kernel);
}

async function inputFrom(p, problems) {
  const bad = (why) => problems.push(`input ${JSON.stringify(p.input)}: ${why}`) && null;
  if (p.input === "numbers" || p.input === "drawing") {
    try {
      const grid = parseGrid(rowsOf(p.grid || ""), link.state().limits.grid);
      link.chooseSource("type");
      return [grid, p.input === "drawing" ? "your drawing" : "typed numbers", p.input === "drawing", { input: p.input }];
    } catch (error) {
      return bad(`its grid: ${error.message}`);
    }
  }
  if (p.input === "run") {
    const runs = $$("#sample-run option").map((o) => o.value);
    if (!runs.includes(p.run)) return bad(`no run ${JSON.stringify(p.run)} in this runs folder`);
    if (!$$("#sample-size option").some((o) => o.value === String(p.size))) return bad(`size must be 8, 16 or 28, not ${JSON.stringify(p.size)}`);
    const answer = await getJSON(`/api/playground/images?source=${encodeURIComponent(p.run)}&size=${p.size}`);
    const image = answer.images.find((im) => im.id === `${p.run}:${p.sample}`);
    if (!image) return bad(`the run's samples are 0 to ${answer.images.length - 1}, not ${JSON.stringify(p.sample)}`);
    $("#sample-run").value = p.run;
    $("#sample-size").value = String(p.size);
    link.chooseSource("run");
    return [image.grid, `${p.run}: ${image.label}`, true, { input: "run", run: p.run, size: String(p.size), sample: String(p.sample) }];
  }
  const answer = await getJSON("/api/playground/images?source=digits");
  const image = answer.images.find((im) => im.id === p.input);
  if (!image && String(p.input).startsWith("digits:")) return bad(`no such built-in digit (they are ${answer.images.map((im) => im.id).join(", ")})`);
  if (!image) return bad("not an input: digits:N (a built-in digit), run, numbers or drawing");
  link.chooseSource("digits");
  $$("#digit-thumbs .thumb").forEach((b) => b.classList.toggle("chosen", b.dataset.id === image.id));
  return [image.grid, image.label, true, { input: image.id }];
}

function goToCell(text, stepper, answer, what, problems) {
  if (text === undefined || !answer) return;
  const m = /^(\d+),(\d+)$/.exec(String(text));
  const [oh, ow] = answer.output_shape;
  if (!m || Number(m[1]) >= oh || Number(m[2]) >= ow) {
    problems.push(`${what} ${JSON.stringify(text)}: the output is ${oh} × ${ow}, its cells 0,0 to ${oh - 1},${ow - 1}`);
    return;
  }
  stepper.go(Number(m[1]) * ow + Number(m[2]));
}

/** Open a link's playground: every bad value is named in one line and left as it was. */
export async function applyPlayground(p) {
  const problems = [];
  const check = (key, ok, why) => {
    if (p[key] !== undefined && !ok) problems.push(`${key} ${JSON.stringify(p[key])}: ${why}`);
  };
  if (p.kernel !== undefined) setKernelFrom(p.kernel, problems);
  check("bias", p.bias === undefined || (p.bias !== "" && Number.isFinite(Number(p.bias)) && setControl("#conv-bias", Number(p.bias), true)), "not a number");
  check("stride", setControl("#conv-stride", p.stride, intIn(p.stride, 1, 8)), "a whole number 1 to 8");
  check("padding", setPadding("conv", p.padding, 8), "valid, same or 0 to 8");
  check("pool", setControl("#pool-mode", p.pool, ["max", "average"].includes(p.pool)), "max or average");
  check("pool_size", setControl("#pool-size", p.pool_size, intIn(p.pool_size, 1, 8)), "a whole number 1 to 8");
  check("pool_stride", setControl("#pool-stride", p.pool_stride, intIn(p.pool_stride, 1, 8)), "a whole number 1 to 8");
  check("pool_padding", setPadding("pool", p.pool_padding, 4), "valid, same or 0 to 4");
  check("pool_of", setControl("#pool-source", p.pool_of, ["conv", "input"].includes(p.pool_of)), "conv or input");
  const input = p.input !== undefined ? await inputFrom(p, problems) : null;
  if (input) await link.setInput(...input);
  else await runConv();
  if ($("#pool-source").value === "input") await link.runPool();
  const s = link.state();
  const { conv, pool } = link.steppers();
  goToCell(p.cell, conv, s.conv, "cell", problems);
  goToCell(p.pool_cell, pool, s.pool, "pool_cell", problems);
  if (problems.length) showError(`link: ${problems.join("; ")}`);
}

register("playground", { state: playgroundState, apply: applyPlayground });
