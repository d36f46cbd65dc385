// The one-line message bar: errors from the API (or from the page's own checks) and short notes.

import { $ } from "./dom.js";

let timer = null;

function show(text, kind) {
  const bar = $("#message");
  $("#message-text").textContent = text;
  bar.dataset.kind = kind;
  bar.hidden = false;
  clearTimeout(timer);
  if (kind === "note") timer = setTimeout(hideMessage, 4000);
}

/** Show an error in one line; it stays until closed or replaced. */
export function showError(error) {
  const text = typeof error === "string" ? error : error && error.message ? error.message : String(error);
  show(text.split("\n")[0], "error");
}

export function showNote(text) {
  show(text, "note");
}

/** Hide the bar if it shows an error (a later action succeeded). */
export function clearError() {
  if ($("#message").dataset.kind === "error") hideMessage();
}

export function hideMessage() {
  $("#message").hidden = true;
}

/** Run an async action; any failure becomes the one-line message (never silent). */
export async function guard(action) {
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}
