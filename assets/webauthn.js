// Passkeys (WebAuthn) for Gatehouse. No inline script: pages mark forms with
// data-webauthn and this file runs the ceremony with the browser's JSON
// helpers (PublicKeyCredential.parse…OptionsFromJSON and toJSON), puts the
// result in the form's hidden "credential" field and submits the form; the
// server verifies it.
//
//   data-webauthn="create"  add a passkey; options in data-options
//   data-webauthn="get"     second login step; options in data-options
//   data-webauthn="login"   sign in with a passkey from the login page;
//                           options fetched from data-options-url, also
//                           offered through the username field's autofill
(function () {
  "use strict";
  var supported = !!(window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON);

  function showError(form, msg) {
    var el = form.querySelector("[data-webauthn-error]");
    if (el) { el.textContent = msg; el.hidden = false; }
  }

  function submitWith(form, cred, state) {
    form.elements.namedItem("credential").value = JSON.stringify(cred.toJSON());
    if (state !== undefined) { form.elements.namedItem("state").value = state; }
    form.submit();
  }

  function failed(form, err) {
    if (err && err.name === "AbortError") { return; }
    showError(form, err && err.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out."
      : "The passkey did not work" + (err && err.message ? ": " + err.message : "."));
  }

  function fetchOptions(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("passkeys are not available"); }
        return r.json();
      })
      .then(function (o) {
        if (!o.available) { throw new Error("passkeys are not available"); }
        return o;
      });
  }

  function setupStatic(form, kind) {
    var btn = form.querySelector("[data-webauthn-start]");
    if (!supported) {
      showError(form, "This browser cannot use passkeys.");
      if (btn) { btn.disabled = true; }
      return;
    }
    btn.addEventListener("click", function () {
      var options = JSON.parse(form.dataset.options);
      var name = form.elements.namedItem("name");
      if (name && !name.value.trim()) {
        showError(form, "Give the passkey a name first.");
        name.focus();
        return;
      }
      var p = kind === "create"
        ? navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
        : navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
      p.then(function (cred) { submitWith(form, cred); }, function (err) { failed(form, err); });
    });
  }

  function setupLogin(form) {
    if (!supported) { return; }
    var url = form.dataset.optionsUrl;
    var pending = null;
    function run(mediation) {
      if (pending) { pending.abort(); }
      var ctrl = new AbortController();
      pending = ctrl;
      return fetchOptions(url).then(function (o) {
        var req = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.options), signal: ctrl.signal };
        if (mediation) { req.mediation = mediation; }
        return navigator.credentials.get(req).then(function (cred) {
          if (cred) { submitWith(form, cred, o.state); }
        });
      }).catch(function (err) { if (mediation !== "conditional") { failed(form, err); } });
    }
    fetchOptions(url).then(function () {
      form.hidden = false;
      form.querySelector("[data-webauthn-start]").addEventListener("click", function () { run(); });
      if (PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (ok) { run("conditional"); }
        });
      }
    }, function () { /* passkeys not available: the form stays hidden */ });
  }

  function init() {
    document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
      var kind = form.dataset.webauthn;
      if (kind === "login") { setupLogin(form); } else { setupStatic(form, kind); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
