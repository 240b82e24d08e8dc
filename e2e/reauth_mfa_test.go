package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"gatehouse/auth"
	"gatehouse/models"
)

// ageReauth makes userID's sessions look confirmed an hour ago.
func (a *app) ageReauth(t *testing.T, userID uint) {
	t.Helper()
	if err := a.db.Model(&models.Session{}).Where("user_id = ?", userID).
		Update("reauth_at", time.Now().UTC().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
}

// overrideUV makes the virtual authenticator id report the user as not
// verified (its responses' UV flag zero), or stops doing so.
func (b *tab) overrideUV(id webauthn.AuthenticatorID, bad bool) {
	b.t.Helper()
	b.do("override the UV bit", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: id, IsBadUV: &bad})
		return err
	}))
}

// Sudo with an authenticator app: the page asks for the password and a
// code; a wrong code is answered in place (htmx), and the password with
// the app's next code goes back to the page.
func TestBrowserReauthWithTOTP(t *testing.T) {
	t.Parallel()
	a := newMFAApp(t)
	u := a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)
	b.loginAs("alice", "correct horse battery")
	setup, err := a.accounts.BeginTOTP(&u.SessionUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.accounts.ActivateTOTP(context.Background(), u.ID, auth.FactorSession{}, setup.State, codeAt(t, setup.Secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	a.ageReauth(t, u.ID)

	b.open(passwordChangePath)
	b.waitPath(reauthPath + "?next=" + url.QueryEscape(passwordChangePath))
	b.waitFor(`#reauth-form #id_code`)
	b.waitUntil("htmx to load", "window.htmx")
	b.setMarker()
	b.typeInto("id_password", "correct horse battery")
	b.typeInto("id_code", "000000")
	b.submitInPlace("#reauth-form")
	b.waitUntil("an error under the code", `document.querySelector("#id_code-msg .error")?.textContent.includes("not valid")`)
	if !b.markerSurvived() {
		t.Fatal("a wrong code reloaded the page; want the form swapped in place")
	}
	b.open(passwordChangePath) // still no sudo
	b.waitPath(reauthPath + "?next=" + url.QueryEscape(passwordChangePath))
	b.waitFor(`#reauth-form #id_code`)
	b.typeInto("id_password", "correct horse battery")
	// The activation spent the current step: the next one is accepted.
	b.typeInto("id_code", codeAt(t, setup.Secret, time.Now().Add(30*time.Second)))
	b.click(`[data-testid=reauth-submit]`)
	b.waitPath(passwordChangePath)
	b.waitFor(`[data-testid="password-change-confirmed"]`) // confirmed once: no old password asked again
}

// Sudo with a passkey alone: a user with a passkey confirms with Chromium's
// virtual authenticator, no password typed. An assertion without user
// verification (the authenticator's UV bit forced to zero) is refused.
func TestBrowserReauthWithPasskey(t *testing.T) {
	t.Parallel()
	a := newMFAApp(t)
	u := a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)
	authID := b.enableVirtualAuthenticator()
	b.loginAs("alice", "correct horse battery")
	b.open("/accounts/2fa/webauthn/")
	b.typeInto("id_name", "Laptop")
	b.click(`[data-testid="passkey-add"]`)
	b.waitFor(`[data-testid="recovery-codes"]`)
	a.ageReauth(t, u.ID)

	b.open(passwordChangePath)
	b.waitPath(reauthPath + "?next=" + url.QueryEscape(passwordChangePath))
	b.overrideUV(authID, true)
	b.click(`[data-testid="reauth-passkey"]`)
	b.waitUntil("the refusal", `document.querySelector("#reauth-errors")?.textContent.includes("could not be verified")`)
	b.open(passwordChangePath) // still no sudo
	b.waitPath(reauthPath + "?next=" + url.QueryEscape(passwordChangePath))

	b.overrideUV(authID, false)
	b.click(`[data-testid="reauth-passkey"]`)
	b.waitPath(passwordChangePath)
	b.waitFor(`[data-testid="password-change-confirmed"]`) // confirmed once: no old password asked again
	var e models.AuthEvent
	if err := a.db.Where("user_id = ?", u.ID).Order("id DESC").First(&e).Error; err != nil ||
		e.Kind != models.EventReauthenticated || models.EventDetail(context.Background(), &e) != "The passkey “Laptop”" {
		t.Fatalf("last event: got %q %q %q (%v), want %q, the passkey Laptop", e.Kind, e.DetailCode, e.Detail, err, models.EventReauthenticated)
	}
}
