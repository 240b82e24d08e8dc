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
