// Gatehouse's own script: small progressive enhancements that CSP allows
// because they come from 'self' (no inline scripts, no hx-on).
"use strict";
document.addEventListener("click", function (e) {
  var el = e.target.closest && e.target.closest("[data-dismiss]");
  if (el) {
    var box = el.closest("[data-dismissable]");
    if (box) box.remove();
  }
});

// Live validation replaces only a field's message element (the input is kept
// so focus and what was typed since are safe). The message carries
// data-invalid when the value is invalid; mirror it onto the input's
// aria-invalid (absent means valid, as the server renders it) so assistive
// technology hears the same verdict the eye sees. htmx's own attribute-
// syncing swaps (outerSync/outerMorph) would also copy the input's value
// attribute and could overwrite text typed while the check was in flight.
document.addEventListener("htmx:after:swap", function () {
  document.querySelectorAll(".field-msg").forEach(function (msg) {
    var input = document.getElementById(msg.id.replace(/-msg$/, ""));
    if (!input) return;
    if (msg.hasAttribute("data-invalid")) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  });
});

// The admin's live search swaps only the results region; htmx history is
// off (see the layout's htmx-config), so the address bar is kept in step
// here: the region carries the address of what it shows in data-url. The
// entry is replaced, not pushed, so typing does not flood the back button.
document.addEventListener("htmx:after:swap", function () {
  var results = document.getElementById("user-results");
  var url = results && results.getAttribute("data-url");
  if (url && url.charAt(0) === "/" && url !== location.pathname + location.search) {
    history.replaceState(history.state, "", url);
  }
});

// The profile's time zone: with none saved, offer the browser's own
// (Intl), so the first save picks the zone the person lives in. Nothing is
// sent until they press the button.
document.addEventListener("DOMContentLoaded", function () {
  var input = document.querySelector("#time-zone-form input[name=time_zone]");
  if (!input || input.value !== "" || input.getAttribute("aria-invalid") === "true") return;
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && zone !== "UTC") input.value = zone;
  } catch (e) {}
});
