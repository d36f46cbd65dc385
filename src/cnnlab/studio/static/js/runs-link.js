// The runs view's state in a link: the chosen run, the runs overlaid on its curves and the
// log scale: #runs?run=digits-keras&compare=digits-numpy&log=1

import { curves, setCurves } from "./compare.js";
import { register } from "./links.js";
import { linkView, onShow } from "./runs.js";
import { showError } from "./status.js";

export function runsState() {
  return { run: linkView.chosen(), compare: curves.compare.join(","), log: curves.log ? 1 : null };
}

export async function applyRuns(p) {
  const problems = [];
  const runs = linkView.runs();
  const known = (name) => runs.some((r) => r.name === name);
  if (!runs.length) {
    if (p.run !== undefined) showError(`link: run ${JSON.stringify(p.run)}: there are no runs in this folder`);
    return;
  }
  let run = p.run === undefined ? linkView.chosen() || runs[0].name : p.run;
  if (!known(run)) {
    problems.push(`run ${JSON.stringify(run)}: no such run in this runs folder`);
    run = linkView.chosen() || runs[0].name;
  }
  const asked = p.compare ? String(p.compare).split(",").filter(Boolean) : [];
  const unknown = asked.filter((name) => !known(name));
  if (unknown.length) problems.push(`compare ${JSON.stringify(p.compare)}: no run named ${unknown.map((n) => JSON.stringify(n)).join(", ")}`);
  const compare = [...new Set(asked.filter((name) => known(name) && name !== run))];
  if (p.log !== undefined && !["0", "1"].includes(String(p.log))) problems.push(`log ${JSON.stringify(p.log)}: 1 or 0`);
  const log = String(p.log) === "1";
  if (run !== linkView.chosen()) {
    curves.compare = compare;
    curves.log = log;
    linkView.choose(run);
  }
  await setCurves({ compare, log });
  if (problems.length) showError(`link: ${problems.join("; ")}`);
}

register("runs", { state: runsState, apply: applyRuns, show: async () => onShow() });
