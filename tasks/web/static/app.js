// Live refresh without a page reload: every element with data-refresh is
// fetched again (same URL, header X-Live: 1, which returns only that part)
// and swapped in place. Paused while the tab is hidden or a form field has
// the focus, so nothing moves under the user's hands.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const seconds = Number(live.dataset.refresh || "5");
  async function refresh() {
    if (document.hidden || live.contains(document.activeElement) && document.activeElement.tagName !== "BODY") return;
    try {
      const response = await fetch(window.location.href, { headers: { "X-Live": "1" }, credentials: "same-origin" });
      if (response.status === 200) {
        live.innerHTML = await response.text();
        live.dataset.updated = String(Date.now());
      }
    } catch (err) {
      // The server is away (a restart): keep the last view, try again later.
    }
  }
  window.setInterval(refresh, seconds * 1000);
})();
