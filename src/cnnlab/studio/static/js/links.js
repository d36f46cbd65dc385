// Links: the URL's hash holds the view and its state, so that a copied URL reopens exactly that
// view: #explorer?run=digits-keras&image=test:17&layer=conv2d&channel=3&cell=4,5. Each view
// registers how to read its state and how to open one; a change the user makes is written to
// the URL (a new history entry, except for a step of a step-through, which replaces the entry),
// and back / forward (or an edited URL) open the state the URL holds.

import { showError } from "./status.js";

export const VIEWS = ["playground", "explorer", "runs"];
// Keys that only move a step-through: changing them replaces the history entry.
const STEP_KEYS = new Set(["cell", "pool_cell"]);
const STEP_MS = 250; // at most one replaceState per this many ms while stepping

const views = {}; // name -> {state() -> params, apply(params) -> Promise, show() -> Promise}
let applying = 1; // until the first route: the views' start-up is not the user's change
let started = false;
let routed = null; // the hash last opened (or written) by this module
let routeSeq = 0;
let pending = null; // {hash, timer}: a step's replaceState not yet written
let onView = () => {};

/** "a:b,c" stays readable: only what must be escaped is. */
const encode = (value) =>
  encodeURIComponent(String(value)).replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%3B/g, ";");

/** The view and its parameters in a hash ("#explorer?run=x&cell=1,2"). */
export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#/, "");
  const at = text.indexOf("?");
  const name = at < 0 ? text : text.slice(0, at);
  const params = Object.fromEntries(new URLSearchParams(at < 0 ? "" : text.slice(at + 1)));
  return { view: VIEWS.includes(name) ? name : "playground", params };
}

/** The hash of a view with these parameters (null, undefined and "" are left out). */
export function hashOf(view, params = {}) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${encode(k)}=${encode(v)}`);
  return `#${view}${parts.length ? `?${parts.join("&")}` : ""}`;
}

/** A view's link handlers: {state() -> params, apply(params), show()}. */
export function register(view, handlers) {
  views[view] = handlers;
}

function write(hash, push) {
  history[push ? "pushState" : "replaceState"](null, "", hash);
  routed = location.hash;
  // A tab goes back to its view as it was left.
  const tab = document.getElementById(`tab-${parseHash(hash).view}`);
  if (tab) tab.setAttribute("href", hash);
}

function flush() {
  if (!pending) return;
  clearTimeout(pending.timer);
  const { hash } = pending;
  pending = null;
  if (hash !== location.hash) write(hash, false);
}

/** The user changed `view`'s state: the URL follows. A change of steps alone replaces the
 * history entry (at most every STEP_MS); any other change is a new entry, except when the URL
 * held no state of the view yet (a bare #tab). */
export function changed(view) {
  const handler = views[view];
  if (applying || !handler || parseHash().view !== view) return;
  const next = handler.state();
  const hash = hashOf(view, next);
  const shown = pending ? pending.hash : location.hash;
  if (hash === shown) return;
  const before = parseHash(shown).params;
  const after = parseHash(hash).params;
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const stepsOnly = [...keys].every((k) => STEP_KEYS.has(k) || before[k] === after[k]);
  if (stepsOnly) {
    if (pending) pending.hash = hash;
    else pending = { hash, timer: setTimeout(flush, STEP_MS) };
    return;
  }
  if (!Object.keys(before).length) {
    if (pending) clearTimeout(pending.timer);
    pending = null;
    write(hash, false);
    return;
  }
  flush();
  write(hash, true);
}

/** Open what the URL says: the view, and its state when the URL holds one (a bare #tab keeps
 * the view's state and writes it into the URL). main.js calls it at start, on hashchange and
 * on popstate. */
export async function route() {
  if (pending && location.hash !== routed) {
    clearTimeout(pending.timer);
    pending = null;
  }
  if (!started) {
    started = true;
    applying -= 1;
  }
  const { view, params } = parseHash();
  onView(view);
  if (location.hash === routed) return;
  routed = location.hash;
  const handler = views[view];
  if (!handler) return;
  const mine = ++routeSeq;
  document.body.dataset.routed = "false";
  applying += 1;
  try {
    if (Object.keys(params).length) await handler.apply(params);
    else if (handler.show) await handler.show();
  } catch (error) {
    showError(error);
  } finally {
    applying -= 1;
  }
  if (mine !== routeSeq || parseHash().view !== view) return;
  write(hashOf(view, handler.state()), false);
  document.body.dataset.routed = "true";
}

/** main.js: what shows a view (the tabs). */
export function onViewShown(fn) {
  onView = fn;
}

/** The one-line error of a bad value in a link, e.g. linkError("run", "nope", "no such run"). */
export function linkError(what, value, why) {
  showError(`link: ${what} ${JSON.stringify(String(value))}: ${why}`);
}

/** "4,5" -> [4, 5] (non-negative integers), else null. */
export function parseCell(text) {
  const m = /^(\d+),(\d+)$/.exec(String(text || "").trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** The href of an image of a run in the explorer. */
export const explorerHref = (run, image) => hashOf("explorer", { run, image });
