// channel-monitor's pages work without this script; with it, filters apply as soon as they
// change, and the page refreshes itself while nobody is reading an opened detail.
"use strict";
document.querySelectorAll("form.filters select").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
const every = Number(document.body.dataset.refresh || 0);
if (every > 0) {
  setInterval(() => {
    const reading = document.querySelector("details[open]");
    if (!reading && document.visibilityState === "visible") {
      window.location.reload();
    }
  }, every * 1000);
}
