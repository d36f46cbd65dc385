// The JSON API (docs/studio-api.md): every call returns the parsed answer or throws an ApiError
// whose message is the server's one-line {"error": ...}. A POST that succeeds (the user's
// next action worked) clears an error shown before.

import { clearError } from "./status.js";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(`${path}: the studio server does not answer (${error.message})`, 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new ApiError(reason, response.status);
  }
  if (body === null) throw new ApiError(`${path}: the answer is not JSON`, response.status);
  if (options.method === "POST") clearError();
  return body;
}

export const getJSON = (path) => request(path);

export const postJSON = (path, data) =>
  request(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });

/** POST raw bytes (a File or a Blob) as the body. */
export const postBytes = (path, blob) =>
  request(path, { method: "POST", headers: { "Content-Type": blob.type || "application/octet-stream" }, body: blob });

export const runPath = (run) => `/api/runs/${encodeURIComponent(run)}`;
