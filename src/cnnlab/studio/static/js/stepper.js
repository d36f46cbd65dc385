// Step-through controls: first, back, play/pause, forward, last, a speed slider and the
// position. The keyboard (space, arrow keys, Home, End) drives the stepper used last.

import { h, svg, clear } from "./dom.js";

// Icons as SVG paths (a 16 x 16 box): no icon font, no glyph the system may lack.
const ICONS = {
  first: "M3 3h2v10H3zM13 3v10L6 8z",
  prev: "M12 3v10L5 8z",
  play: "M4 2.5v11L13.5 8z",
  pause: "M4 3h3v10H4zM9 3h3v10H9z",
  next: "M4 3v10l7-5zM11.5 3h2v10h-2z",
  last: "M3 3v10l7-5zM11 3h2v10h-2z",
};

const icon = (name) => svg("svg", { viewBox: "0 0 16 16", width: 14, height: 14, "aria-hidden": "true" }, svg("path", { d: ICONS[name], fill: "currentColor" }));

let active = null;
const all = [];

const visible = (stepper) => stepper.host.isConnected && stepper.host.offsetParent !== null && stepper.count > 0;

export function setActive(stepper) {
  active = stepper;
}

/** The keyboard handler main.js installs: true when the key was used. */
export function handleKey(event) {
  if (!active || !visible(active)) active = all.find(visible) || null;
  if (!active) return false;
  const keys = {
    " ": () => active.toggle(),
    ArrowRight: () => active.next(),
    ArrowDown: () => active.next(),
    ArrowLeft: () => active.prev(),
    ArrowUp: () => active.prev(),
    Home: () => active.first(),
    End: () => active.last(),
  };
  const action = keys[event.key];
  if (!action) return false;
  action();
  return true;
}

export class Stepper {
  /**
   * @param {HTMLElement} host
   * @param {object} opts {testid, onStep(k), describe(k) -> text, speed (ms per step)}
   */
  constructor(host, opts) {
    this.host = host;
    this.opts = opts;
    for (let n = all.length - 1; n >= 0; n--) if (!all[n].host.isConnected || all[n].host === host) all.splice(n, 1);
    all.push(this);
    this.count = 0;
    this.k = 0;
    this.timer = null;
    const id = opts.testid;
    host.dataset.testid = id;
    const button = (name, title, action) =>
      h("button", { type: "button", class: `step-${name}`, "data-testid": `${id}-${name}`, title, "aria-label": title, onclick: action }, icon(name));
    this.playButton = button("play", "Play / pause (space)", () => this.toggle());
    this.speed = h("input", {
      type: "range",
      min: 0,
      max: 100,
      value: 55,
      title: "Speed",
      "aria-label": "Speed",
      "data-testid": `${id}-speed`,
    });
    this.position = h("span", { class: "step-pos", "data-testid": `${id}-pos`, "aria-live": "polite" });
    clear(host).append(
      h(
        "div",
        { class: "stepper" },
        button("first", "First cell (Home)", () => this.first()),
        button("prev", "Step back (←)", () => this.prev()),
        this.playButton,
        button("next", "Step forward (→)", () => this.next()),
        button("last", "All cells (End)", () => this.last()),
        h("label", { class: "speed" }, "slow", this.speed, "fast"),
        this.position,
      ),
    );
    host.addEventListener("pointerdown", () => setActive(this));
  }

  /** New number of steps; goes to step `start`. */
  setCount(count, start = 0) {
    this.pause();
    this.count = count;
    this.go(start);
  }

  go(k) {
    if (!this.count) return;
    this.k = Math.max(0, Math.min(this.count - 1, k));
    this.host.dataset.k = this.k;
    this.position.textContent = this.opts.describe ? this.opts.describe(this.k) : `${this.k + 1} / ${this.count}`;
    this.opts.onStep(this.k);
  }

  next() {
    setActive(this);
    if (this.k < this.count - 1) this.go(this.k + 1);
    else this.pause();
  }

  prev() {
    setActive(this);
    this.pause();
    this.go(this.k - 1);
  }

  first() {
    setActive(this);
    this.pause();
    this.go(0);
  }

  last() {
    setActive(this);
    this.pause();
    this.go(this.count - 1);
  }

  interval() {
    // 0 -> 900 ms per step, 100 -> 25 ms per step (logarithmic)
    const t = Number(this.speed.value) / 100;
    return Math.round(900 * Math.pow(25 / 900, t));
  }

  play() {
    setActive(this);
    if (this.timer || !this.count) return;
    if (this.k >= this.count - 1) this.go(0);
    this.playButton.replaceChildren(icon("pause"));
    this.playButton.classList.add("playing");
    this.host.dataset.playing = "true";
    let last = performance.now();
    const tick = (now) => {
      if (!this.timer) return;
      if (now - last >= this.interval()) {
        last = now;
        if (this.k >= this.count - 1) return this.pause();
        this.go(this.k + 1);
      }
      this.timer = requestAnimationFrame(tick);
    };
    this.timer = requestAnimationFrame(tick);
  }

  pause() {
    if (this.timer) cancelAnimationFrame(this.timer);
    this.timer = null;
    this.playButton.replaceChildren(icon("play"));
    this.playButton.classList.remove("playing");
    this.host.dataset.playing = "false";
  }

  toggle() {
    if (this.timer) this.pause();
    else this.play();
  }
}
