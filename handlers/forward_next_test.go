package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/auth"
)

// hostileAbsoluteNexts are next values no page may follow with
// SESSION_COOKIE_DOMAIN=.example.test and BASE_URL http://example.test:
// other hosts, scheme-relative and backslash tricks, other schemes, user
// info, look-alike suffixes and a huge URL.
var hostileAbsoluteNexts = []string{
	"http://evil.test/",
	"//evil.test/",
	"/\\evil.test/",
	"javascript:alert(1)//app.example.test",
	"https://app.example.test/",
	"http://app.example.test@evil.test/",
	"http://app.example.test\\evil.test/",
	"http://example.test.evil/",
	"http://app.example.test" + strings.Repeat("/a", 2000),
}

// TestTwoFactorSetUpThenBack: a two_factor rule sends a signed-in user
// without a factor to /accounts/2fa/?next=<the app>; the overview, the
// authenticator and passkey set-up pages carry next, and once the factor
// is added the person goes on to the app, whose next check lets them in
// (the set-up made the session a two-factor one). A hostile next is
// dropped on every page.
func TestTwoFactorSetUpThenBack(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withSecretKey, withCookieDomain)
	target := "http://secure.example.test/dash?tab=1"
	setup := "/accounts/2fa/?next=" + url.QueryEscape(target)

	t.Run("authenticator app", func(t *testing.T) {
		erin := ts.createUser(t, "erin", "erin@example.com", "a long enough passphrase")
		c := ts.domainClient(t)
		c.login("erin", "a long enough passphrase")
		wantRedirect302(t, c.forward("secure.example.test", "/dash?tab=1"), "http://example.test"+setup)

		res := c.get(setup)
		wantStatus(t, res, http.StatusOK)
		doc := res.doc(t)
		if doc.Find(`[data-testid="mfa-next"]`).Length() != 1 {
			t.Error("the overview does not say why the user is here")
		}
		activate, _ := doc.Find(`[data-testid="totp-activate-link"]`).Attr("href")
		if want := "/accounts/2fa/totp/activate/?next=" + url.QueryEscape(target); activate != want {
			t.Fatalf("set-up link: got %q, want %q", activate, want)
		}
		if href, _ := doc.Find(`[data-testid="passkeys-link"]`).Attr("href"); href != "/accounts/2fa/webauthn/?next="+url.QueryEscape(target) {
			t.Errorf("passkeys link: got %q", href)
		}

		// The set-up page needs a fresh password confirmation: next
		// survives the detour.
		ts.ageReauth(t, erin.ID)
		res = c.get(activate)
		wantRedirect(t, res, reauthTo(activate))
		res = c.postForm("/accounts/reauthenticate/", url.Values{"password": {"a long enough passphrase"}, "next": {activate}})
		wantRedirect(t, res, activate)

		res = c.get(activate)
		wantStatus(t, res, http.StatusOK)
		doc = res.doc(t)
		if v, _ := doc.Find(`#totp-form input[name="next"]`).Attr("value"); v != target {
			t.Fatalf("activation form next: got %q, want %q", v, target)
		}
		secret := strings.TrimSpace(doc.Find(`[data-testid="totp-secret"]`).Text())
		state, _ := doc.Find(`input[name="state"]`).Attr("value")
		res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {"000000"}, "next": {target}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if v, _ := res.doc(t).Find(`#totp-form input[name="next"]`).Attr("value"); v != target {
			t.Errorf("next lost on a wrong code: got %q", v)
		}
		// Still a password-only session: the app still sends to set-up.
		wantStatus(t, c.forward("secure.example.test", "/dash?tab=1"), http.StatusFound)

		res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {totpAt(t, secret, nowStep())}, "next": {target}})
		wantStatus(t, res, http.StatusOK)
		if href, _ := res.doc(t).Find(`[data-testid="recovery-continue"]`).Attr("href"); href != target {
			t.Errorf("continue after the recovery codes: got %q, want %q", href, target)
		}
		wantIdentity(t, c.forward("secure.example.test", "/dash?tab=1"), "erin", "")
		if m := session0(t, ts, c).AuthMethod; m != auth.AuthPasswordTOTP {
			t.Errorf("auth_method after set-up: got %q, want %q", m, auth.AuthPasswordTOTP)
		}
		// Back on the overview with next, a factor set up: a way on.
		if href, _ := c.get(setup).doc(t).Find(`[data-testid="mfa-continue"]`).Attr("href"); href != target {
			t.Errorf("overview's continue link: got %q, want %q", href, target)
		}
	})

	t.Run("passkey", func(t *testing.T) {
		ts.createUser(t, "finn", "finn@example.com", "a long enough passphrase")
		c := ts.domainClient(t)
		c.login("finn", "a long enough passphrase")
		page := c.get("/accounts/2fa/webauthn/?next=" + url.QueryEscape(target))
		wantStatus(t, page, http.StatusOK)
		doc := page.doc(t)
		if v, _ := doc.Find(`#passkey-add-form input[name="next"]`).Attr("value"); v != target {
			t.Fatalf("passkey form next: got %q, want %q", v, target)
		}
		options, _ := doc.Find(`#passkey-add-form`).Attr("data-options")
		state, _ := doc.Find(`#passkey-add-form input[name="state"]`).Attr("value")
		p := newSoftPasskey(t, ts.h.cfg.BaseURL)
		res := c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {state}, "name": {"Laptop"}, "credential": {p.create(options)}, "next": {target}})
		wantStatus(t, res, http.StatusOK)
		if href, _ := res.doc(t).Find(`[data-testid="recovery-continue"]`).Attr("href"); href != target {
			t.Errorf("continue after the recovery codes: got %q, want %q", href, target)
		}
		wantIdentity(t, c.forward("secure.example.test", "/dash?tab=1"), "finn", "")
		if m := session0(t, ts, c).AuthMethod; m != auth.AuthPasswordPasskey {
			t.Errorf("auth_method after set-up: got %q", m)
		}
		// A second passkey makes no codes: straight on to next.
		page = c.get("/accounts/2fa/webauthn/?next=" + url.QueryEscape(target))
		doc = page.doc(t)
		options, _ = doc.Find(`#passkey-add-form`).Attr("data-options")
		state, _ = doc.Find(`#passkey-add-form input[name="state"]`).Attr("value")
		p2 := newSoftPasskey(t, ts.h.cfg.BaseURL)
		res = c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {state}, "name": {"Phone"}, "credential": {p2.create(options)}, "next": {target}})
		wantRedirect(t, res, target)
	})

	t.Run("hostile next is dropped", func(t *testing.T) {
		ts.createUser(t, "gail", "gail@example.com", "a long enough passphrase")
		c := ts.domainClient(t)
		c.login("gail", "a long enough passphrase")
		for _, next := range hostileAbsoluteNexts {
			q := "?next=" + url.QueryEscape(next)
			doc := c.get("/accounts/2fa/" + q).doc(t)
			if doc.Find(`[data-testid="mfa-next"]`).Length() != 0 {
				t.Errorf("%q: overview took it", next)
			}
			if href, _ := doc.Find(`[data-testid="totp-activate-link"]`).Attr("href"); href != "/accounts/2fa/totp/activate/" {
				t.Errorf("%q: set-up link %q", next, href)
			}
			if c.get("/accounts/2fa/totp/activate/"+q).doc(t).Find(`#totp-form input[name="next"]`).Length() != 0 {
				t.Errorf("%q: activation form carries it", next)
			}
			if c.get("/accounts/2fa/webauthn/"+q).doc(t).Find(`#passkey-add-form input[name="next"]`).Length() != 0 {
				t.Errorf("%q: passkey form carries it", next)
			}
		}
		// Turned on with a hostile next: the codes page leads home.
		res := c.get("/accounts/2fa/totp/activate/")
		doc := res.doc(t)
		secret := strings.TrimSpace(doc.Find(`[data-testid="totp-secret"]`).Text())
		state, _ := doc.Find(`input[name="state"]`).Attr("value")
		res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {totpAt(t, secret, nowStep())}, "next": {"http://evil.test/"}})
		wantStatus(t, res, http.StatusOK)
		if res.doc(t).Find(`[data-testid="recovery-continue"]`).Length() != 0 || strings.Contains(res.body, "evil.test") {
			t.Error("the codes page leads to the hostile next")
		}
	})
}

// TestFormActionAllowsCookieDomain: browsers apply CSP form-action to the
// redirects after a form's submission, so with SESSION_COOKIE_DOMAIN the
// policy allows its hosts (a sign-in form's 303 to a protected app is
// otherwise blocked: TestBrowserForwardAuthPasskeyThroughCaddy); without
// it, 'self' only.
func TestFormActionAllowsCookieDomain(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain)
	got := ts.domainClient(t).get("/accounts/login/").Header.Get("Content-Security-Policy")
	if !strings.Contains(got, "form-action 'self' http://example.test:* http://*.example.test:*;") {
		t.Errorf("CSP with a cookie domain: got %q", got)
	}
	plain := newTestServer(t)
	if got := plain.client(t).get("/accounts/login/").Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("CSP without a cookie domain: got %q", got)
	}
	for _, bad := range []string{".evil.test 'unsafe-inline'", ".a;b", "."} {
		if got := cspFor("http://example.test", bad); got != contentSecurityPolicy {
			t.Errorf("cspFor(%q): got %q", bad, got)
		}
	}
}

// TestSetUpRaisesOnlyAConfirmedSession: the raise checks the password
// confirmation again in its transaction: a session whose confirmation has
// lapsed (between the page and the submit) gets the factor, not the
// two-factor standing.
func TestSetUpRaisesOnlyAConfirmedSession(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withSecretKey, withCookieDomain)
	u := ts.createUser(t, "hana", "hana@example.com", "a long enough passphrase")
	c := ts.domainClient(t)
	c.login("hana", "a long enough passphrase")
	setup, err := ts.app.Accounts().BeginTOTP(&u.SessionUser)
	if err != nil {
		t.Fatal(err)
	}
	ts.ageReauth(t, u.ID)
	s := auth.FactorSession{ID: session0(t, ts, c).ID, ConfirmedWithin: auth.DefaultReauthTimeout}
	added, err := ts.app.Accounts().ActivateTOTP(t.Context(), u.ID, s, setup.State, totpAt(t, setup.Secret, nowStep()))
	if err != nil || added.Raised || len(added.Codes) == 0 {
		t.Fatalf("got raised %v, %d codes, %v; want the factor added, the session not raised", added.Raised, len(added.Codes), err)
	}
	if m := session0(t, ts, c).AuthMethod; auth.IsSecondFactor(m) {
		t.Errorf("auth_method: got %q, want the password's", m)
	}
	wantRedirect302(t, c.forward("secure.example.test", "/"), "http://example.test/accounts/reauthenticate/?next="+url.QueryEscape("http://secure.example.test/"))
}

// TestTwoFactorSetUpConfirmsEmailFirstThenBack: a person whose address
// is not confirmed, sent by a two_factor rule to set up a factor, is sent
// to confirm the address first — with the way back: the e-mail page, its
// resend form and the link in the mail carry the two-factor overview with
// the app as its next, so after confirming they set up the factor and go
// on to the app. A hostile next is dropped on every step.
func TestTwoFactorSetUpConfirmsEmailFirstThenBack(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withRules(t, testRules), withSecretKey, withCookieDomain, withNextLimits, withMail,
		func(c *Config) { c.EmailVerification = auth.VerifyOptional })
	target := "http://secure.example.test/dash?tab=1"
	setup := "/accounts/2fa/?next=" + url.QueryEscape(target)
	activate := "/accounts/2fa/totp/activate/?next=" + url.QueryEscape(target)
	emailPage := "/accounts/email/?next=" + url.QueryEscape(setup)

	u := ts.createUser(t, "ines", "ines@example.com", "a long enough passphrase")
	mustExec(t, ts, "UPDATE users SET email_verified = ? WHERE id = ?", false, u.ID)
	c := ts.domainClient(t)
	c.login("ines", "a long enough passphrase")
	wantRedirect302(t, c.forward("secure.example.test", "/dash?tab=1"), "http://example.test"+setup)

	// Both ways to add a factor send to the e-mail page, keeping next.
	wantRedirect(t, c.get(activate), emailPage)
	wantRedirect(t, c.get("/accounts/2fa/webauthn/?next="+url.QueryEscape(target)), emailPage)
	page := c.get(emailPage)
	wantStatus(t, page, http.StatusOK)
	if got := hiddenNext(t, page, "#email-resend-form"); got != setup {
		t.Fatalf("resend form next: got %q, want %q", got, setup)
	}
	wantRedirect(t, c.postForm("/accounts/email/send-verification/", url.Values{"next": {setup}}), emailPage)
	link := mailLink(t, srv)
	if !strings.HasSuffix(link, "/?next="+url.QueryEscape(setup)) {
		t.Fatalf("confirmation link %q does not carry next %q", link, setup)
	}
	confirm := c.get(link)
	wantStatus(t, confirm, http.StatusOK)
	if got := hiddenNext(t, confirm, "form:has([data-testid=confirm-email-submit])"); got != setup {
		t.Fatalf("confirm form next: got %q, want %q", got, setup)
	}
	path, _, _ := strings.Cut(link, "?")
	wantRedirect(t, c.postForm(path, url.Values{"next": {setup}}), setup)

	// Confirmed: the set-up page opens, with next, and the factor leads on.
	res := c.get(activate)
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	secret := strings.TrimSpace(doc.Find(`[data-testid="totp-secret"]`).Text())
	state, _ := doc.Find(`input[name="state"]`).Attr("value")
	res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {totpAt(t, secret, nowStep())}, "next": {target}})
	wantStatus(t, res, http.StatusOK)
	if href, _ := res.doc(t).Find(`[data-testid="recovery-continue"]`).Attr("href"); href != target {
		t.Errorf("continue after the recovery codes: got %q, want %q", href, target)
	}
	wantIdentity(t, c.forward("secure.example.test", "/dash?tab=1"), "ines", "")

	t.Run("hostile next is dropped", func(t *testing.T) {
		v := ts.createUser(t, "jon", "jon@example.com", "a long enough passphrase")
		mustExec(t, ts, "UPDATE users SET email_verified = ? WHERE id = ?", false, v.ID)
		c := ts.domainClient(t)
		c.login("jon", "a long enough passphrase")
		for _, next := range hostileAbsoluteNexts {
			q := "?next=" + url.QueryEscape(next)
			wantRedirect(t, c.get("/accounts/2fa/totp/activate/"+q), "/accounts/email/")
			if got := hiddenNext(t, c.get("/accounts/email/"+q), "#email-resend-form"); got != "" {
				t.Errorf("%q: resend form carries %q", next, got)
			}
		}
		wantRedirect(t, c.postForm("/accounts/email/send-verification/", url.Values{"next": {"http://evil.test/"}}), "/accounts/profile/")
		if link := mailLink(t, srv); strings.Contains(link, "next=") {
			t.Errorf("confirmation link %q carries a hostile next", link)
		}
	})
}
