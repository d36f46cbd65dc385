// One floating tooltip shared by the grids and the charts.

let tip = null;

function element() {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "tooltip";
    tip.dataset.testid = "tooltip";
    tip.hidden = true;
    document.body.append(tip);
  }
  return tip;
}

/** Show `text` (lines separated by \n) near the pointer event. */
export function showTip(event, text) {
  const el = element();
  el.textContent = text;
  el.hidden = false;
  const pad = 14;
  const { innerWidth, innerHeight } = window;
  const rect = el.getBoundingClientRect();
  let x = event.clientX + pad;
  let y = event.clientY + pad;
  if (x + rect.width > innerWidth - 4) x = event.clientX - rect.width - pad;
  if (y + rect.height > innerHeight - 4) y = event.clientY - rect.height - pad;
  el.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
}

export function hideTip() {
  if (tip) tip.hidden = true;
}
