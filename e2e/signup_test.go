package e2e

import (
	"context"
	"gatehouse/auth"
	"strings"
	"testing"
)

const signupPath = "/accounts/signup/"

// signupForm is the signup form, whatever its id.
const signupForm = `form:has(#id_password2)`

// Signup checks fields while the user types (no submit, no reload) and,
// on submit, answers in place with inline errors; a valid form creates the
// account.
func TestBrowserSignupValidatesLiveAndInline(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.needEndpoint(t, signupPath)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)

	b.open(signupPath)
	b.waitUntil("htmx to load", "window.htmx")
	b.setMarker()

	// Live: a taken username is reported before any submit.
	b.typeInto("id_username", "alice")
	b.waitUntil("a live error under the username", `document.querySelector("#id_username-msg .error")?.textContent.trim()`)
	if got := b.attr("#id_username", "aria-describedby"); !containsWord(got, "id_username-msg") {
		t.Errorf("#id_username aria-describedby: got %q, want it to name id_username-msg", got)
	}
	// …and cleared as the user types a free one.
	b.typeInto("id_username", "bob")
	b.waitUntil("the username error to clear", `!document.querySelector("#id_username-msg .error")`)

	// Live: the confirmation is checked against the first password.
	b.typeInto("id_password1", "a long enough passphrase")
	b.typeInto("id_password2", "a different passphrase")
	b.waitUntil("a live mismatch error under the confirmation", `document.querySelector("#id_password2-msg .error")?.textContent.trim()`)
	if !b.markerSurvived() {
		t.Fatal("window marker lost during live validation: the page reloaded")
	}

	// Submit with errors: inline, in place, focus on the first bad field.
	b.typeInto("id_email", "not-an-e-mail")
	b.submitInPlace(signupForm)
	b.waitUntil("an error under the e-mail", `document.querySelector("#id_email-msg .error")?.textContent.trim()`)
	if !b.markerSurvived() {
		t.Fatal("window marker lost on submit: want an in-place swap")
	}
	if r := a.lastRequest(t, "POST", signupPath); !r.HTMX || r.Status != 422 {
		t.Errorf("signup POST: got HX-Request %v status %d, want htmx answered 422", r.HTMX, r.Status)
	}
	if got := b.attr("#id_email", "aria-invalid"); got != "true" {
		t.Errorf("#id_email aria-invalid: got %q, want true", got)
	}
	if got := b.focusedID(); got != "id_email" {
		t.Errorf("focused element: got #%s, want #id_email (first invalid field)", got)
	}
	if got := eval[string](b, `document.getElementById("id_username").value`); got != "bob" {
		t.Errorf("username kept: got %q, want bob", got)
	}
	if got := eval[string](b, `document.getElementById("id_password1").value`); got != "" {
		t.Errorf("password1 after a failed submit: got %q, want it empty (passwords are never echoed)", got)
	}

	// Fix everything: the account exists and its password works.
	b.typeInto("id_email", "bob@example.com")
	b.typeInto("id_password1", "a long enough passphrase")
	b.typeInto("id_password2", "a long enough passphrase")
	b.signupChecksPassed("password1", "password2")
	b.click(signupForm + ` [type="submit"]`)
	b.waitUntil("to leave the signup page", "location.pathname !== "+js(signupPath))
	if _, err := a.accounts.Login(context.Background(), auth.LoginInput{Username: "bob", Password: "a long enough passphrase"}); err != nil {
		t.Errorf("new account bob: login: got %v, want success", err)
	}
}

// signupChecksPassed waits, as a person would, until the sign-up form's
// live checks have passed the given fields and no check is still on its
// way. Each answer adds a line under its field and moves the submit button
// down: a click aimed while one lands can miss the button.
func (b *tab) signupChecksPassed(fields ...string) {
	b.t.Helper()
	b.waitUntil("the live checks to pass", jsList(fields)+`.every(f => document.querySelector("#id_" + f + "-msg .ok")) && !document.querySelector("#signup-form .htmx-request")`)
}

// containsWord reports whether the space-separated list holds w.
func containsWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}
