package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

const (
	loginPath   = "/accounts/login/"
	profilePath = "/accounts/profile/"
	// loginError is the one message for every failed login.
	loginError = "Please enter a correct username and password. Note that the password is case-sensitive."
)

// A wrong password answers in place: htmx swaps the form, the page does not
// reload, and focus and screen-reader cues lead to the password field.
func TestBrowserLoginWrongPasswordShowsInlineError(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)

	b.open(loginPath)
	b.waitUntil("htmx to load", "window.htmx")
	b.setMarker()
	b.fillLogin("alice", "wrong password")
	b.submitInPlace("#login-form")

	b.waitFor(`#login-form [role="alert"]`)
	if got := b.text(`#login-form [role="alert"]`); got != loginError {
		t.Errorf("alert text: got %q, want %q", got, loginError)
	}
	if !b.markerSurvived() {
		t.Fatal("window marker lost: the page reloaded, want an in-place swap")
	}
	if r := a.lastRequest(t, "POST", loginPath); !r.HTMX || r.Status != 422 {
		t.Errorf("login POST: got HX-Request %v status %d, want an htmx request answered 422", r.HTMX, r.Status)
	}
	if got := b.path(); got != loginPath {
		t.Errorf("address: got %s, want %s", got, loginPath)
	}
	if got := b.focusedID(); got != "id_password" {
		t.Errorf("focused element: got #%s, want #id_password (autofocus in the swapped form)", got)
	}
	if got := eval[int](b, `document.querySelectorAll("#login-form").length`); got != 1 {
		t.Errorf("login forms in the page: got %d, want 1 (outerHTML swap, not nested)", got)
	}
	if got := eval[string](b, `document.getElementById("id_username").value`); got != "alice" {
		t.Errorf("username kept: got %q, want %q", got, "alice")
	}
	if got := eval[string](b, `document.getElementById("id_password").value`); got != "" {
		t.Errorf("password field: got %q, want it emptied", got)
	}
	// Screen-reader cues: the alert is announced, each input is labelled
	// and described by a message area that exists.
	for _, id := range []string{"id_username", "id_password"} {
		if n := eval[int](b, `document.querySelectorAll('label[for="`+id+`"]').length`); n != 1 {
			t.Errorf("labels for #%s: got %d, want 1", id, n)
		}
		desc := b.attr("#"+id, "aria-describedby")
		if !containsWord(desc, id+"-msg") {
			t.Errorf("#%s aria-describedby: got %q, want it to name %s-msg", id, desc, id)
		}
		for _, ref := range strings.Fields(desc) {
			if !eval[bool](b, `!!document.getElementById(`+js(ref)+`)`) {
				t.Errorf("#%s aria-describedby names #%s, which is not in the page", id, ref)
			}
		}
		if got := b.attr("#"+id, "aria-invalid"); got != "true" && got != "<absent>" {
			t.Errorf("#%s aria-invalid: got %q, want true or none (valid)", id, got)
		}
	}
	if got := b.attr("#id_password", "autocomplete"); got != "current-password" {
		t.Errorf("password autocomplete: got %q, want current-password", got)
	}
	if got := b.attr("#messages", "aria-live"); got != "polite" {
		t.Errorf("#messages aria-live: got %q, want polite", got)
	}

	// Missing fields: the field itself is marked invalid and focused.
	b.typeInto("id_username", "")
	b.submitInPlace("#login-form")
	b.waitFor("#id_username-msg .error")
	if got := b.attr("#id_username", "aria-invalid"); got != "true" {
		t.Errorf("empty username aria-invalid: got %q, want true", got)
	}
	if got := b.focusedID(); got != "id_username" {
		t.Errorf("focused element after empty username: got #%s, want #id_username", got)
	}
	if !b.markerSurvived() {
		t.Fatal("window marker lost after the second submit: the page reloaded")
	}
}

// The right password leads to the home page, which greets the user and
// shows the welcome flash; the logout button signs out.
func TestBrowserLoginAndLogout(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)

	b.open("/")
	b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
	b.click(`[data-testid="nav-login"]`)
	b.waitPath(loginPath)
	b.waitUntil("htmx to load", "window.htmx")
	b.login("alice", "correct horse battery")

	b.waitText(`[data-testid="greeting"]`, "Hi alice!")
	if got := b.path(); got != "/" {
		t.Errorf("address after login: got %s, want /", got)
	}
	if got := b.text(`[data-testid="flash"] span`); got != "Welcome back, alice!" {
		t.Errorf("flash: got %q, want %q", got, "Welcome back, alice!")
	}
	if r := a.lastRequest(t, "POST", loginPath); !r.HTMX {
		t.Errorf("login POST: got a plain request, want htmx (HX-Redirect)")
	}
	if got := b.text(`[data-testid="nav-profile"]`); got != "alice" {
		t.Errorf("nav: got %q, want the username", got)
	}

	b.click(`[data-testid="logout"]`)
	b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
	if got := b.text(`[data-testid="flash"] span`); got != "You have been signed out." {
		t.Errorf("flash after logout: got %q, want %q", got, "You have been signed out.")
	}
	b.waitFor(`[data-testid="nav-login"]`)
	// app.js (our only script, CSP-allowed) dismisses messages.
	b.click(`[data-testid="flash"] [data-dismiss]`)
	b.waitUntil("the flash to go", `!document.querySelector('[data-testid="flash"]')`)
	if r := a.lastRequest(t, "POST", "/accounts/logout/"); r.Status != 303 {
		t.Errorf("logout POST: got status %d, want 303", r.Status)
	}
	// Signed out for real: the profile sends the browser to log in.
	b.open(profilePath)
	b.waitPath(loginPath + "?next=%2Faccounts%2Fprofile%2F")
}

// With JavaScript off, the same forms work as plain HTML forms: a wrong
// password re-renders the page with the error, the right one signs in.
func TestBrowserLoginWithoutJavaScript(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.do("disable JavaScript", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	b.expectStatus(422)

	b.open(loginPath)
	if eval[bool](b, "typeof window.htmx !== 'undefined'") {
		t.Fatal("htmx ran: want JavaScript disabled in this tab")
	}
	b.login("alice", "wrong password")
	b.waitFor(`#login-form [role="alert"]`)
	if got := b.text(`#login-form [role="alert"]`); got != loginError {
		t.Errorf("alert text: got %q, want %q", got, loginError)
	}
	if r := a.lastRequest(t, "POST", loginPath); r.HTMX || r.Status != 422 {
		t.Errorf("login POST: got HX-Request %v status %d, want a plain form post answered 422", r.HTMX, r.Status)
	}
	if got := eval[string](b, `document.getElementById("id_username").value`); got != "alice" {
		t.Errorf("username kept: got %q, want %q", got, "alice")
	}

	b.login("alice", "correct horse battery")
	b.waitText(`[data-testid="greeting"]`, "Hi alice!")
	if got := b.text(`[data-testid="flash"] span`); got != "Welcome back, alice!" {
		t.Errorf("flash: got %q, want %q", got, "Welcome back, alice!")
	}
	if r := a.lastRequest(t, "POST", loginPath); r.HTMX || r.Status != 303 {
		t.Errorf("login POST: got HX-Request %v status %d, want a plain form post answered 303", r.HTMX, r.Status)
	}

	b.click(`[data-testid="logout"]`)
	b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
}

// A protected page visited signed out leads to the login page and, after a
// (first failed, then right) log-in, back to that page.
func TestBrowserProtectedPageComesBackAfterLogin(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)

	b.open(profilePath)
	b.waitPath(loginPath + "?next=%2Faccounts%2Fprofile%2F")
	if got := eval[string](b, `document.querySelector('#login-form input[name="next"]').value`); got != profilePath {
		t.Errorf("next field: got %q, want %q", got, profilePath)
	}
	b.waitUntil("htmx to load", "window.htmx")

	// The swapped form must keep next, or the user lands on the home page.
	b.login("alice", "wrong password")
	b.waitFor(`#login-form [role="alert"]`)
	b.login("alice", "correct horse battery")

	b.waitPath(profilePath)
	if got := b.text(`[data-testid="profile-username"]`); got != "alice" {
		t.Errorf("profile username: got %q, want alice", got)
	}
	if got := b.text(`[data-testid="profile-email"]`); got != "alice@example.com" {
		t.Errorf("profile email: got %q, want alice@example.com", got)
	}
}

// An error no form fragment answers (here 413, a body over the cap) lands
// as an alert in the page's message area via HX-Retarget; the form and what
// was typed stay.
func TestBrowserOversizeLoginShowsAlertAndKeepsForm(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	b := newTab(t, a)
	b.expectStatus(413)

	b.open(loginPath)
	b.waitUntil("htmx to load", "window.htmx")
	b.setMarker()
	b.typeInto("id_password", "secret")
	// Typing a megabyte key by key would take minutes; paste it instead.
	eval[chromedp.Void](b, `document.getElementById("id_username").value = "x".repeat(1 << 20)`)
	b.click(`[data-testid="login-submit"]`)

	b.waitFor(`#messages [data-testid="error-alert"]`)
	if got := b.text(`#messages [data-testid="error-alert"] span`); !strings.Contains(got, "larger than this site accepts") {
		t.Errorf("alert: got %q, want the 413 message", got)
	}
	if got := b.attr(`#messages [data-testid="error-alert"]`, "role"); got != "alert" {
		t.Errorf("alert role: got %q, want alert", got)
	}
	if !b.markerSurvived() {
		t.Fatal("window marker lost: the page reloaded")
	}
	if got := eval[int](b, `document.getElementById("id_username").value.length`); got != 1<<20 {
		t.Errorf("username field: got %d characters, want the %d typed kept", got, 1<<20)
	}
	if got := eval[string](b, `document.getElementById("id_password").value`); got != "secret" {
		t.Errorf("password field: got %q, want it untouched", got)
	}
	if r := a.lastRequest(t, "POST", loginPath); !r.HTMX || r.Status != 413 {
		t.Errorf("login POST: got HX-Request %v status %d, want htmx answered 413", r.HTMX, r.Status)
	}
}
