// The model explorer's live camera: only after the user presses "Use the camera", frames (the
// video's centre square) are grabbed to a canvas and sent, as JPEGs, to this studio's server
// (POST /api/runs/RUN/frame), the next one only after the previous answer and at most five a
// second. The panel shows the live video, the crop the model saw (after the run's face or
// hand step), the prediction and the Grad-CAM over the crop. Stop, leaving the explorer or
// choosing another run releases the camera (its tracks are stopped).

import { postBytes, runPath } from "./api.js";
import { probabilityBars } from "./charts.js";
import { $ } from "./dom.js";
import { showError } from "./status.js";

const MIN_GAP_MS = 200; // at most 5 frames a second
const MAX_SIDE = 480; // a larger centre square is scaled down to this before it is sent

const cam = { stream: null, run: null, token: 0, frames: 0, canvas: null };

/** One line for a failed getUserMedia (denied, no camera, busy, ...). */
function cameraError(error) {
  const reasons = {
    NotAllowedError: "access was denied; allow the camera for this page in the browser's site settings",
    SecurityError: "access was denied; allow the camera for this page in the browser's site settings",
    NotFoundError: "no camera was found on this machine",
    OverconstrainedError: "no camera was found on this machine",
    NotReadableError: "the camera is in use by another program (or the system refused it)",
    AbortError: "the camera could not be started",
  };
  return `camera: ${reasons[error && error.name] || (error && error.message) || String(error)}`;
}

/** Ask for the camera and start sending frames to run ``run``. */
export async function startCamera(run) {
  stopCamera();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("camera: this browser offers no camera to this page (open the studio at http://127.0.0.1 or localhost)");
  }
  const token = ++cam.token;
  const button = $("#camera-start");
  button.disabled = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    throw new Error(cameraError(error));
  } finally {
    button.disabled = false;
  }
  if (token !== cam.token) {
    stream.getTracks().forEach((track) => track.stop()); // stopped while the browser asked
    return;
  }
  Object.assign(cam, { stream, run, frames: 0 });
  const panel = $("#camera");
  panel.hidden = false;
  panel.dataset.run = run;
  panel.dataset.frames = "0";
  panel.dataset.live = "true";
  $("#camera-result").hidden = true;
  $("#camera-rate").textContent = "starting the camera…";
  const video = $("#camera-video");
  video.srcObject = stream;
  try {
    await video.play();
  } catch (error) {
    if (token !== cam.token) return; // stopped before the video started: not an error
    throw error;
  }
  loop(token);
}

/** Release the camera (its tracks end) and hide the panel; nothing happens if it is off. */
export function stopCamera() {
  cam.token += 1;
  if (cam.stream) cam.stream.getTracks().forEach((track) => track.stop());
  cam.stream = null;
  const video = $("#camera-video");
  if (video) video.srcObject = null;
  const panel = $("#camera");
  if (panel) {
    panel.hidden = true;
    panel.dataset.live = "false";
  }
}

/** The video's centre square (what the live view shows), at most MAX_SIDE pixels a side, as a
 * JPEG: a square frame is not squeezed when a run without a face or hand step resizes it. */
function grab(video) {
  const side = Math.min(video.videoWidth, video.videoHeight);
  const out = Math.min(side, MAX_SIDE);
  const canvas = cam.canvas || (cam.canvas = document.createElement("canvas"));
  canvas.width = canvas.height = out;
  const sx = (video.videoWidth - side) / 2;
  const sy = (video.videoHeight - side) / 2;
  canvas.getContext("2d").drawImage(video, sx, sy, side, side, 0, 0, out, out);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function loop(token) {
  const video = $("#camera-video");
  while (token === cam.token) {
    if (video.readyState < 2 || !video.videoWidth) {
      await pause(50);
      continue;
    }
    const started = performance.now();
    const blob = await grab(video);
    if (token !== cam.token) return;
    let answer;
    try {
      answer = await postBytes(`${runPath(cam.run)}/frame`, blob);
    } catch (error) {
      if (token !== cam.token) return;
      stopCamera();
      showError(error);
      return;
    }
    if (token !== cam.token) return;
    render(answer, performance.now() - started);
    await pause(Math.max(0, MIN_GAP_MS - (performance.now() - started)));
  }
}

function render(a, ms) {
  cam.frames += 1;
  const panel = $("#camera");
  $("#camera-result").hidden = false;
  $("#camera-crop").src = a.crop;
  $("#camera-crop-shape").textContent = a.shape.join(" × ");
  const camImg = $("#camera-cam");
  camImg.hidden = !a.grad_cam;
  if (a.grad_cam) camImg.src = a.grad_cam.overlay;
  $("#camera-cam-layer").textContent = a.grad_cam ? `at ${a.grad_cam.layer}` : "no Conv2D layer";
  const predicted = $("#camera-predicted");
  predicted.textContent = `${a.predicted.class} · ${(a.predicted.p * 100).toFixed(1)}%`;
  predicted.dataset.class = a.predicted.class;
  predicted.dataset.p = String(a.predicted.p);
  predicted.dataset.found = String(a.found);
  probabilityBars($("#camera-probs"), a.probabilities, a.predicted.class);
  const note = $("#camera-note");
  note.hidden = !a.note;
  note.textContent = a.note || "";
  $("#camera-rate").textContent = `frame ${cam.frames} · ${Math.round(ms)} ms from grab to answer (the server: ${Math.round(a.ms)} ms)`;
  panel.dataset.found = String(a.found);
  panel.dataset.frames = String(cam.frames);
}

/** Wire the buttons; ``currentRun()`` names the run the explorer shows. */
export function initCamera(currentRun) {
  $("#camera-start").addEventListener("click", () =>
    startCamera(currentRun()).catch((error) => {
      stopCamera();
      showError(error);
    }),
  );
  $("#camera-stop").addEventListener("click", stopCamera);
  window.addEventListener("hashchange", () => {
    if (location.hash !== "#explorer") stopCamera();
  });
  window.addEventListener("pagehide", stopCamera);
}
