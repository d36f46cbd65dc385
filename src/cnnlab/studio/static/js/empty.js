// What the explorer and the runs view say when the runs folder holds no run yet.

import { h, clear } from "./dom.js";

export function emptyRunsMessage(host, runsDir, what) {
  clear(host).append(
    h("h2", {}, "No runs yet"),
    h(
      "p",
      {},
      `There is no run in ${runsDir || "the runs folder"} to ${what === "explore" ? "explore" : "show"}. Train one (under a minute on 2 cores, on the built-in digits):`,
    ),
    h("pre", { "data-testid": "train-command" }, "uv run cnnlab train"),
    h(
      "p",
      { class: "muted" },
      "then reload this page (start the studio with --runs pointing at the folder that holds the run). The playground needs no run.",
    ),
  );
}
