package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	passwordChangePath = "/accounts/password_change/"
	// A password change ends on the profile with a message, like every
	// other flow.
	passwordChangedPath   = "/accounts/profile/"
	passwordResetPath     = "/accounts/password_reset/"
	passwordResetDonePath = "/accounts/password_reset/done/"
	resetSetPasswordPath  = "/accounts/reset/set-password/"
	resetDonePath         = "/accounts/reset/done/"
)

// Forms found by the fields they hold, whatever their ids turn out to be,
// and their submit buttons.
const (
	passwordChangeForm   = `#password-change-form`
	passwordChangeSubmit = passwordChangeForm + ` [type="submit"]`
	passwordResetSubmit  = `form:has(#id_email) [type="submit"]`
	setPasswordSubmit    = `form:has(#id_new_password1) [type="submit"]`
)

// loginAs signs in through the login page and waits for the greeting.
func (b *tab) loginAs(username, password string) {
	b.t.Helper()
	b.open(loginPath)
	b.login(username, password)
	b.waitText(`[data-testid="greeting"]`, "Hi "+username+"!")
}

// loginFails tries a log-in that must be refused.
func (b *tab) loginFails(username, password string) {
	b.t.Helper()
	b.open(loginPath)
	b.login(username, password)
	b.waitFor(`#login-form [role="alert"]`)
	if got := b.text(`#login-form [role="alert"]`); got != loginError {
		b.t.Errorf("log-in as %s: got alert %q, want %q", username, got, loginError)
	}
}

// A signed-in user changes their password; afterwards only the new one
// opens the account.
func TestBrowserPasswordChange(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.needEndpoint(t, passwordChangePath)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)

	b.loginAs("alice", "correct horse battery")
	b.open(passwordChangePath)
	b.waitUntil("htmx to load", "window.htmx")

	// Signing in confirmed who this is (sudo), so the page does not ask
	// for the old password again.
	if eval[bool](b, `!!document.getElementById("id_old_password")`) {
		t.Fatal("within sudo the password page asks for the old password again")
	}
	// A mismatch is refused in place.
	b.setMarker()
	b.typeInto("id_new_password1", "a brand new passphrase")
	b.typeInto("id_new_password2", "a brand new passphrasf")
	b.submitInPlace(passwordChangeForm)
	b.waitUntil("an error under the confirmation", `document.querySelector("#id_new_password2-msg .error")?.textContent.trim()`)
	if !b.markerSurvived() {
		t.Fatal("window marker lost: want the error swapped in place")
	}
	if got := b.focusedID(); got != "id_new_password2" {
		t.Errorf("focused element: got #%s, want #id_new_password2", got)
	}

	b.typeInto("id_new_password1", "a brand new passphrase")
	b.typeInto("id_new_password2", "a brand new passphrase")
	b.click(passwordChangeSubmit)
	b.waitPath(passwordChangedPath)
	b.waitText(`[data-testid="flash"] span`, "Your password was changed. Every other session of your account has been signed out.")
	// This session survives its own password change (Django's
	// update_session_auth_hash).
	if got := b.text(`[data-testid="nav-profile"]`); got != "alice" {
		t.Errorf("nav after the change: got %q, want alice still signed in", got)
	}

	b.click(`[data-testid="logout"]`)
	b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
	b.loginFails("alice", "correct horse battery")
	b.loginAs("alice", "a brand new passphrase")
}

// A user who forgot their password asks for a link, reads the e-mail the
// real SMTP server received, follows the link, sets a new password and logs
// in with it.
func TestBrowserPasswordReset(t *testing.T) {
	t.Parallel()
	a := newApp(t, withMail())
	a.needEndpoint(t, passwordResetPath)
	if !a.mailWired {
		t.Fatal("password reset exists, but the suite cannot point the app at its SMTP server: " +
			"set the app's mail setting in wireMail (e2e/app_test.go)")
	}
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)

	b.open(passwordResetPath)
	b.typeInto("id_email", "alice@example.com")
	b.click(passwordResetSubmit)
	b.waitPath(passwordResetDonePath)

	msg := a.mail.Next(t, 20*time.Second)
	if len(msg.To) != 1 || msg.To[0] != "alice@example.com" {
		t.Fatalf("reset e-mail recipients: got %v, want [alice@example.com]", msg.To)
	}
	if strings.TrimSpace(msg.Subject) == "" {
		t.Error("reset e-mail: got an empty subject")
	}
	link := linkTo(t, msg.Text, "/accounts/reset/")
	if !strings.Contains(msg.HTML, link) {
		t.Errorf("reset e-mail: the HTML part lacks the link of the text part")
	}
	if !strings.HasPrefix(link, a.URL+"/accounts/reset/") {
		t.Fatalf("reset link: got %s, want it on the app's BASE_URL %s", link, a.URL)
	}

	b.do("follow the reset link", chromedp.Navigate(link))
	// The token leaves the address bar (and any Referer) at once.
	b.waitPath(resetSetPasswordPath)
	b.typeInto("id_new_password1", "a fresh reset passphrase")
	b.typeInto("id_new_password2", "a fresh reset passphrase")
	b.click(setPasswordSubmit)
	b.waitPath(resetDonePath)

	b.loginFails("alice", "correct horse battery")
	b.loginAs("alice", "a fresh reset passphrase")

	// The link is single-use: following it again offers no password form.
	b.click(`[data-testid="logout"]`)
	b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
	// Refusing with a 4xx status is fine; Chromium logs it.
	b.expectProblem(`^browser log \[network\]: Failed to load resource: the server responded with a status of 4\d\d .*/accounts/reset/`)
	b.do("follow the used reset link", chromedp.Navigate(link))
	if eval[bool](b, `!!document.getElementById("id_new_password1")`) {
		t.Error("used reset link: got a set-password form, want the link refused")
	}
}

// linkTo returns the first http(s) link in body whose path starts with
// prefix (e.g. "/accounts/reset/").
func linkTo(t *testing.T, body, prefix string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s"'<>]+` + regexp.QuoteMeta(prefix) + `[^\s"'<>]*`)
	link := re.FindString(body)
	if link == "" {
		t.Fatalf("no link to %s… in the e-mail:\n%s", prefix, body)
	}
	return link
}
