package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/route"
	"gatehouse/mail/mailtest"
	"gatehouse/models"
)

// The ways into an account besides the login form keep an absolute next
// (a protected app within SESSION_COOKIE_DOMAIN) to the end, and drop a
// hostile one: sign-up with and without e-mail confirmation, the
// confirmation link, password reset, the second step, upstream sign-in.

const appTarget = "http://app.example.test/page?x=1"

// withNextLimits lifts the sign-up and reset limits: these tests sign up
// once per hostile next from one address.
func withNextLimits(c *Config) {
	c.SignupLimitPerIP = models.Limit{Max: 1000, Window: time.Hour}
	c.PasswordResetLimitPerEmail = models.Limit{Max: 1000, Window: time.Hour}
}

func hiddenNext(t *testing.T, res *response, form string) string {
	t.Helper()
	// The footer's language menu carries the page's own address as its
	// next (a local path, checked again when followed): not the flow's.
	v, _ := res.doc(t).Find(form + ` input[name="next"]`).Not(`#language-menu input`).Attr("value")
	return v
}

// mailLinkRE is a link of ours in a mail's text part, with its query.
var mailLinkRE = regexp.MustCompile(`http://example\.test(/accounts/(?:confirm-email|reset)/[A-Za-z0-9_-]+/(?:\?next=[^\s"]*)?)`)

// mailLink is the link of the next mail that has one (notices such as
// "your password was changed" are passed over).
func mailLink(t *testing.T, srv *mailtest.Server) string {
	t.Helper()
	for range 5 {
		m := srv.Next(t, 10*time.Second)
		match := mailLinkRE.FindStringSubmatch(m.Text)
		if match == nil {
			continue
		}
		if !strings.Contains(m.HTML, `href="`+match[0]+`"`) {
			t.Fatalf("html part lacks the link %s", match[0])
		}
		return match[1]
	}
	t.Fatal("no mail with a link")
	return ""
}

func TestSignupKeepsAbsoluteNext(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain, withNextLimits,
		func(c *Config) { c.EmailVerification = auth.VerifyNone })
	c := ts.domainClient(t)
	login := c.get("/accounts/login/?next=" + url.QueryEscape(appTarget))
	doc := login.doc(t)
	signup, _ := doc.Find(`[data-testid="login-signup-link"]`).Attr("href")
	if want := "/accounts/signup/?next=" + url.QueryEscape(appTarget); signup != want {
		t.Fatalf("login page's sign-up link: got %q, want %q", signup, want)
	}
	if href, _ := doc.Find(`[data-testid="login-reset-link"]`).Attr("href"); href != "/accounts/password_reset/?next="+url.QueryEscape(appTarget) {
		t.Errorf("login page's reset link: got %q", href)
	}
	page := c.get(signup)
	if got := hiddenNext(t, page, "#signup-form"); got != appTarget {
		t.Fatalf("sign-up form next: got %q", got)
	}
	form := signupForm("newcomer")
	form.Set("next", appTarget)
	// A form with errors keeps next (the htmx swap too).
	bad := signupForm("newcomer")
	bad.Set("password2", "something else entirely")
	bad.Set("next", appTarget)
	if got := hiddenNext(t, c.htmxPost("/accounts/signup/", bad), "#signup-form"); got != appTarget {
		t.Errorf("next lost on a form error: got %q", got)
	}
	wantRedirect(t, c.postForm("/accounts/signup/", form), appTarget)
	wantIdentity(t, c.forward("app.example.test", "/page?x=1"), "newcomer", "")

	for i, next := range hostileAbsoluteNexts {
		c := ts.domainClient(t)
		if got := hiddenNext(t, c.get("/accounts/signup/?next="+url.QueryEscape(next)), "#signup-form"); got != "" {
			t.Errorf("%q: sign-up form carries it", next)
		}
		f := signupForm("hostile" + string(rune('a'+i)))
		f.Set("next", next)
		wantRedirect(t, c.postForm("/accounts/signup/", f), "/")
	}
}

// TestSignupWithConfirmationKeepsAbsoluteNext: with mandatory
// confirmation the link in the mail carries next; confirming (in any
// browser) leads to the login page with it, and signing in to the app.
// With optional confirmation, a signed-in user's confirmation goes to next.
func TestSignupWithConfirmationKeepsAbsoluteNext(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain, withNextLimits, withMail,
		func(c *Config) { c.EmailVerification = auth.VerifyMandatory })
	c := ts.domainClient(t)
	form := signupForm("careful")
	form.Set("next", appTarget)
	loginNext := "/accounts/login/?next=" + url.QueryEscape(appTarget)
	wantRedirect(t, c.postForm("/accounts/signup/", form), loginNext)
	link := mailLink(t, srv)
	if !strings.HasSuffix(link, "/?next="+url.QueryEscape(appTarget)) {
		t.Fatalf("confirmation link %q does not carry next", link)
	}
	other := ts.domainClient(t)
	page := other.get(link)
	wantStatus(t, page, http.StatusOK)
	if got := hiddenNext(t, page, "form"); got != appTarget {
		t.Fatalf("confirm form next: got %q", got)
	}
	wantRedirect(t, other.postForm(link, url.Values{"next": {appTarget}}), loginNext)
	res := other.postForm("/accounts/login/", url.Values{"username": {"careful"}, "password": {"a long enough password"}, "next": {appTarget}})
	wantRedirect(t, res, appTarget)

	// Hostile: not in the mail, not on the page, not followed.
	for i, next := range hostileAbsoluteNexts {
		c := ts.domainClient(t)
		f := signupForm("wary" + string(rune('a'+i)))
		f.Set("next", next)
		wantRedirect(t, c.postForm("/accounts/signup/", f), "/accounts/login/")
		link := mailLink(t, srv)
		if strings.Contains(link, "next=") {
			t.Errorf("%q: the mailed link carries it: %s", next, link)
		}
		if got := hiddenNext(t, c.get(link+"?next="+url.QueryEscape(next)), "form"); got != "" {
			t.Errorf("%q: the confirm form carries it", next)
		}
		wantRedirect(t, c.postForm(link, url.Values{"next": {next}}), "/accounts/login/")
	}

	// Optional confirmation: signed in at once, the link leads on to next.
	srv2, withMail2 := withSMTP(t)
	ts2 := newTestServer(t, withRules(t, testRules), withCookieDomain, withMail2)
	c2 := ts2.domainClient(t)
	form = signupForm("eager")
	form.Set("next", appTarget)
	wantRedirect(t, c2.postForm("/accounts/signup/", form), appTarget)
	link = mailLink(t, srv2)
	if got := hiddenNext(t, c2.get(link), "form"); got != appTarget {
		t.Fatalf("confirm form next (signed in): got %q", got)
	}
	wantRedirect(t, c2.postForm(link, url.Values{"next": {appTarget}}), appTarget)
}

// TestPasswordResetKeepsAbsoluteNext: the request form, the mailed link,
// the new-password form and the "complete" page carry next; signing in
// from there lands on the app.
func TestPasswordResetKeepsAbsoluteNext(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain, withNextLimits, withMail,
		func(c *Config) { c.PasswordResetThrottle = 0 })
	ts.createUser(t, "forgetful", "forgetful@example.com", "an old long passphrase")
	c := ts.domainClient(t)
	page := c.get("/accounts/password_reset/?next=" + url.QueryEscape(appTarget))
	if got := hiddenNext(t, page, "#password-reset-form"); got != appTarget {
		t.Fatalf("reset form next: got %q", got)
	}
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"forgetful@example.com"}, "next": {appTarget}}), route.URL(route.PasswordResetDone))
	link := mailLink(t, srv)
	if !strings.HasSuffix(link, "/?next="+url.QueryEscape(appTarget)) {
		t.Fatalf("reset link %q does not carry next", link)
	}
	setPw := "/accounts/reset/set-password/?next=" + url.QueryEscape(appTarget)
	wantRedirect(t, c.get(link), setPw)
	if got := hiddenNext(t, c.get(setPw), "#set-password-form"); got != appTarget {
		t.Fatalf("new-password form next: got %q", got)
	}
	res := c.postForm("/accounts/reset/set-password/", url.Values{"new_password1": {"a brand new passphrase"}, "new_password2": {"a brand new passphrase"}, "next": {appTarget}})
	done := "/accounts/reset/done/?next=" + url.QueryEscape(appTarget)
	wantRedirect(t, res, done)
	loginNext := "/accounts/login/?next=" + url.QueryEscape(appTarget)
	if href, _ := c.get(done).doc(t).Find(`[data-testid="reset-complete-login"]`).Attr("href"); href != loginNext {
		t.Fatalf("sign-in link after the reset: got %q, want %q", href, loginNext)
	}
	res = c.postForm("/accounts/login/", url.Values{"username": {"forgetful"}, "password": {"a brand new passphrase"}, "next": {appTarget}})
	wantRedirect(t, res, appTarget)

	for _, next := range hostileAbsoluteNexts {
		c := ts.domainClient(t)
		if got := hiddenNext(t, c.get("/accounts/password_reset/?next="+url.QueryEscape(next)), "#password-reset-form"); got != "" {
			t.Errorf("%q: reset form carries it", next)
		}
		c.postForm("/accounts/password_reset/", url.Values{"email": {"forgetful@example.com"}, "next": {next}})
		link := mailLink(t, srv)
		if strings.Contains(link, "next=") {
			t.Errorf("%q: the mailed link carries it: %s", next, link)
		}
		wantRedirect(t, c.get(link+"?next="+url.QueryEscape(next)), "/accounts/reset/set-password/")
		if got := hiddenNext(t, c.get("/accounts/reset/set-password/?next="+url.QueryEscape(next)), "#set-password-form"); got != "" {
			t.Errorf("%q: new-password form carries it", next)
		}
		res := c.postForm("/accounts/reset/set-password/", url.Values{"new_password1": {"another new passphrase"}, "new_password2": {"another new passphrase"}, "next": {next}})
		wantRedirect(t, res, "/accounts/reset/done/")
		if href, _ := c.get("/accounts/reset/done/?next=" + url.QueryEscape(next)).doc(t).Find(`[data-testid="reset-complete-login"]`).Attr("href"); href != "/accounts/login/" {
			t.Errorf("%q: sign-in link %q", next, href)
		}
	}
}

// TestSecondStepKeepsAbsoluteNext: password, then the code, then the app.
func TestSecondStepKeepsAbsoluteNext(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withSecretKey, withCookieDomain)
	ts.createUser(t, "guarded", "guarded@example.com", "a long enough passphrase")
	setup := ts.domainClient(t)
	setup.login("guarded", "a long enough passphrase")
	_, codes := activateTOTP(t, setup)

	c := ts.domainClient(t)
	res := c.postForm("/accounts/login/", url.Values{"username": {"guarded"}, "password": {"a long enough passphrase"}, "next": {appTarget}})
	step := "/accounts/2fa/authenticate/?next=" + url.QueryEscape(appTarget)
	wantRedirect(t, res, step)
	if got := hiddenNext(t, c.get(step), "#2fa-form"); got != appTarget {
		t.Fatalf("second step next: got %q", got)
	}
	// The app's current code was spent turning it on: a recovery code.
	res = c.postForm("/accounts/2fa/authenticate/", url.Values{"code": {codes[0]}, "next": {appTarget}})
	wantRedirect(t, res, appTarget)

	for i, next := range hostileAbsoluteNexts {
		c := ts.domainClient(t)
		c.postForm("/accounts/login/", url.Values{"username": {"guarded"}, "password": {"a long enough passphrase"}, "next": {next}})
		if got := hiddenNext(t, c.get("/accounts/2fa/authenticate/?next="+url.QueryEscape(next)), "#2fa-form"); got != "" {
			t.Errorf("%q: second step carries it", next)
		}
		res := c.postForm("/accounts/2fa/authenticate/", url.Values{"code": {codes[i+1]}, "next": {next}})
		wantRedirect(t, res, "/")
	}
}

// TestUpstreamSignInKeepsAbsoluteNext: the provider's button carries next
// through the flow, to a straight sign-in and to the short sign-up form.
func TestUpstreamSignInKeepsAbsoluteNext(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain, withProviders(corpProvider(m)))
	c := ts.domainClient(t)
	if got := hiddenNext(t, c.get("/accounts/login/?next="+url.QueryEscape(appTarget)), `form[action="/accounts/oidc/corp/login/"]`); got != appTarget {
		t.Fatalf("provider button next: got %q", got)
	}
	start := func(c *testClient, next string) *response {
		m.QueueUser(mockUser("sub-ursula", "ursula@corp.example", true, "ursula"))
		return c.get(atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), url.Values{"next": {next}})))
	}
	// A new person: the short sign-up form, then the app.
	wantRedirect(t, start(c, appTarget), route.URL(route.SocialSignup))
	res := c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"ursula"}, "email": {"ursula@corp.example"}})
	wantRedirect(t, res, appTarget)
	// Known: straight in, then the app.
	wantRedirect(t, start(ts.domainClient(t), appTarget), appTarget)
	// A local path longer than the flow keeps is dropped, not a 500.
	long := "/" + strings.Repeat("a", 1500)
	wantRedirect(t, start(ts.domainClient(t), long), "/")

	for _, next := range hostileAbsoluteNexts {
		c := ts.domainClient(t)
		if got := hiddenNext(t, c.get("/accounts/login/?next="+url.QueryEscape(next)), `form[action="/accounts/oidc/corp/login/"]`); got != "" {
			t.Errorf("%q: provider button carries it", next)
		}
		wantRedirect(t, start(c, next), "/")
	}
}
