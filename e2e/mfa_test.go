package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/models"
)

// withSecretKey turns two-factor authentication on. Passkeys need a
// domain for their relying party (browsers refuse an IP address), so the
// app's BASE_URL and the tab use localhost, which is a secure context.
func withSecretKey() appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		cfg.SecretKey = "e2e-secret-key-0123456789-abcdefghijklmnop"
		cfg.BaseURL = strings.Replace(cfg.BaseURL, "127.0.0.1", "localhost", 1)
	}
}

// newMFAApp is an app with 2FA on, addressed as localhost.
func newMFAApp(t *testing.T) *app {
	a := newApp(t, withSecretKey())
	a.URL = strings.Replace(a.URL, "127.0.0.1", "localhost", 1)
	return a
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A user turns on an authenticator app (reading the key off the page,
// seeing the QR code and recovery codes), logs out, and signs in again
// with the password and a computed code.
func TestBrowserTOTPActivationAndLogin(t *testing.T) {
	t.Parallel()
	a := newMFAApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.loginAs("alice", "correct horse battery")

	b.open("/accounts/2fa/")
	b.click(`[data-testid="totp-activate-link"]`)
	b.waitFor(`[data-testid="totp-secret"]`)
	secret := b.text(`[data-testid="totp-secret"]`)
	if !eval[bool](b, `(() => { const i = document.querySelector('[data-testid="totp-qr"]'); return i.complete && i.naturalWidth > 0; })()`) {
		t.Fatal("the QR code image did not render")
	}
	b.typeInto("id_code", codeAt(t, secret, time.Now()))
	b.click(`[data-testid="totp-submit"]`)
	b.waitFor(`[data-testid="recovery-codes"]`)
	if n := eval[int](b, `document.querySelectorAll('[data-testid="recovery-codes"] code').length`); n != 10 {
		t.Fatalf("recovery codes shown: %d, want 10", n)
	}

	b.open("/")
	b.click(`[data-testid="logout"]`)
	b.waitUntil("logged out", `!document.querySelector('[data-testid="nav-profile"]')`)
	b.open(loginPath + "?next=/accounts/profile/")
	b.login("alice", "correct horse battery")
	b.waitFor(`#id_code`)
	if got := b.path(); !strings.HasPrefix(got, "/accounts/2fa/authenticate/") {
		t.Fatalf("after the password: at %s, want the second step", got)
	}
	// Pending is not signed in.
	b.open(profilePath)
	b.waitPath(loginPath + "?next=%2Faccounts%2Fprofile%2F")
	b.open("/accounts/2fa/authenticate/?next=/accounts/profile/")
	// The activation code's step is used: the next step's code (within
	// the allowed drift) signs in.
	b.typeInto("id_code", codeAt(t, secret, time.Now().Add(30*time.Second)))
	b.click(`[data-testid="2fa-submit"]`)
	b.waitPath(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "alice")
}

// enableVirtualAuthenticator gives the tab a platform authenticator that
// holds discoverable credentials and verifies the user (Chromium's
// WebAuthn.addVirtualAuthenticator), and returns its ID.
func (b *tab) enableVirtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.do("add virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			},
		})
		if err == nil {
			id = res.AuthenticatorID
		}
		return err
	}))
	return id
}

// A user registers a passkey through Chromium's virtual authenticator,
// logs out, and signs in with it from the login page: no password, and
// the sign-in is complete on its own.
func TestBrowserPasskeyRegisterAndSignIn(t *testing.T) {
	t.Parallel()
	a := newMFAApp(t)
	u := a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.enableVirtualAuthenticator()
	b.loginAs("alice", "correct horse battery")

	b.open("/accounts/2fa/webauthn/")
	b.typeInto("id_name", "Laptop")
	b.click(`[data-testid="passkey-add"]`)
	// The first factor brings recovery codes.
	b.waitFor(`[data-testid="recovery-codes"]`)
	st, err := a.accounts.MFAStatus(context.Background(), u.ID)
	if err != nil || len(st.Passkeys) != 1 || st.Passkeys[0].Name != "Laptop" {
		t.Fatalf("passkey not stored: %+v %v", st, err)
	}

	b.open("/")
	b.click(`[data-testid="logout"]`)
	b.waitUntil("logged out", `!document.querySelector('[data-testid="nav-profile"]')`)
	// The login page offers passkeys through the username field's autofill.
	// Read from the page's HTML: in the tab, the autofill below may sign in
	// and leave the page before its field could be read.
	res, err := http.Get(a.URL + loginPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Find("#id_username").AttrOr("autocomplete", "<absent>"); got != "username webauthn" {
		t.Errorf("username autocomplete %q, want \"username webauthn\" (autofill of passkeys)", got)
	}
	b.open(loginPath + "?next=/accounts/profile/")
	// webauthn.js offers the passkey through the username field's autofill
	// (conditional mediation); the virtual authenticator, simulating the
	// user's presence, answers that request at once, so the sign-in
	// completes without a click — nothing typed, no password.
	b.waitPath(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "alice")
	var s models.Session
	if err := a.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&s).Error; err != nil || s.AuthMethod != auth.AuthPasskey {
		t.Fatalf("signed-in session: %+v %v, want auth method passkey", s, err)
	}

	// The passkey as the second step after a password. The login page
	// would sign in by autofill at once, so the password is posted from
	// the home page (same origin) and the second step opened after it.
	b.click(`[data-testid="logout"]`)
	b.waitUntil("logged out", `!document.querySelector('[data-testid="nav-profile"]')`)
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/accounts/login/", {method: "POST", redirect: "manual",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "username=alice&password=correct+horse+battery"}).then(r => r.type === "opaqueredirect" ? 303 : r.status)`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || status != 303 {
		t.Fatalf("password step: status %d, %v", status, err)
	}
	b.open("/accounts/2fa/authenticate/?next=/accounts/profile/")
	b.click(`[data-testid="2fa-passkey"]`)
	b.waitPath(profilePath)
	s = models.Session{}
	if err := a.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&s).Error; err != nil || s.AuthMethod != auth.AuthPasswordPasskey {
		t.Fatalf("signed-in session: %+v %v, want auth method password+passkey", s, err)
	}

	// Removing it (sudo is fresh after signing in).
	b.open("/accounts/2fa/webauthn/")
	b.click(`[data-testid="passkeys"] button`)
	b.waitFor(`[data-testid="passkeys-empty"]`)
	if st, _ := a.accounts.MFAStatus(context.Background(), u.ID); len(st.Passkeys) != 0 || st.RecoveryTotal != 0 {
		t.Fatalf("after removing the only passkey: %+v", st)
	}
}
