package handlers

import (
	"context"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"gatehouse/auth"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
	"gatehouse/models"
)

// The OpenID provider of these tests is mockoidc (a real one over HTTP:
// discovery, JWKS, authorization, token endpoint with PKCE); its
// authorization endpoint answers at once with a code for the queued user.

func startMockOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, _ := startCountingMockOIDC(t)
	return m
}

// startCountingMockOIDC also counts the calls to the token endpoint.
func startCountingMockOIDC(t *testing.T) (*mockoidc.MockOIDC, *atomic.Int64) {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var tokenCalls atomic.Int64
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.TokenEndpoint {
				tokenCalls.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m, &tokenCalls
}

func corpProvider(m *mockoidc.MockOIDC) upstream.ProviderConfig {
	return upstream.ProviderConfig{ID: "corp", Type: upstream.TypeOIDC, Name: "Corp SSO", Issuer: m.Issuer(),
		ClientID: m.ClientID, ClientSecret: m.ClientSecret, Scopes: []string{"openid", "profile", "email"}}
}

func withProviders(ps ...upstream.ProviderConfig) func(*Config) {
	return func(c *Config) { c.SocialProviders = ps }
}

// startUpstream posts the provider's button and returns the provider URL
// the page sends the browser to.
func startUpstream(t *testing.T, c *testClient, path string, v url.Values) string {
	t.Helper()
	res := c.postForm(path, v)
	wantStatus(t, res, http.StatusOK)
	href, ok := res.doc(t).Find(`[data-testid="provider-continue"]`).Attr("href")
	if !ok || href == "" {
		t.Fatalf("no continue link in %s", res.body)
	}
	return html.UnescapeString(href)
}

// atProvider follows the provider URL (another browser's view of the
// provider: no cookies of ours) and returns the callback path+query the
// provider redirects to.
func atProvider(t *testing.T, providerURL string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	res, err := hc.Get(providerURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("provider answered %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.RequestURI()
}

// upstreamCallback runs the whole round trip for c and returns the
// callback's answer.
func upstreamCallback(t *testing.T, c *testClient, m *mockoidc.MockOIDC, u mockoidc.User) *response {
	t.Helper()
	if u != nil {
		m.QueueUser(u)
	}
	cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), url.Values{"next": {"/accounts/profile/"}}))
	return c.get(cb)
}

func mockUser(sub, email string, verified bool, username string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: username}
}

// signedInAs reports the username the client is signed in as ("" none).
func signedInAs(t *testing.T, c *testClient) string {
	t.Helper()
	res := c.get(route.URL(route.Profile))
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(res.doc(t).Find(`[data-testid="profile-username"]`).First().Text())
}

func TestUpstreamNewPersonSignsUpWithoutPassword(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	c := ts.client(t)

	// The login page offers the provider, as a POST form.
	login := c.get(route.URL(route.Login))
	wantStatus(t, login, http.StatusOK)
	if btn := login.doc(t).Find(`form[method="post"][action="/accounts/oidc/corp/login/"] [data-testid="provider-corp"]`); btn.Length() != 1 ||
		!strings.Contains(btn.Text(), "Continue with Corp SSO") {
		t.Fatalf("login page lacks the Corp SSO button: %s", login.body)
	}

	res := upstreamCallback(t, c, m, mockUser("sub-alice", "alice@corp.example", true, "alice"))
	wantRedirect(t, res, route.URL(route.SocialSignup))
	if signedInAs(t, c) != "" {
		t.Fatal("signed in before the sign-up form")
	}
	form := c.get(route.URL(route.SocialSignup))
	wantStatus(t, form, http.StatusOK)
	if v, _ := form.doc(t).Find(`input[name="username"]`).Attr("value"); v != "alice" {
		t.Fatalf("username suggestion: got %q, want alice", v)
	}
	if v, _ := form.doc(t).Find(`input[name="email"]`).Attr("value"); v != "alice@corp.example" {
		t.Fatalf("email: got %q, want alice@corp.example", v)
	}
	// The sign-up rules apply: a taken name (any case) is refused.
	ts.createUser(t, "Bob", "bob@example.com", "correct horse battery")
	res = c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"bob"}, "email": {"alice@corp.example"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	binding := c.cookie("upstream")
	res = c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"alice"}, "email": {"alice@corp.example"}})
	wantRedirect(t, res, "/accounts/profile/") // the next the button was given
	if got := signedInAs(t, c); got != "alice" {
		t.Fatalf("signed in as %q, want alice", got)
	}
	u, err := ts.users.ByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Password, "!") || !u.EmailVerified {
		t.Fatalf("new account: password %.1q…, verified %v; want unusable, verified", u.Password, u.EmailVerified)
	}
	// No password works for it.
	other := ts.client(t)
	wantStatus(t, other.postForm(route.URL(route.Login), url.Values{"username": {"alice"}, "password": {u.Password}}), http.StatusUnprocessableEntity)

	// The form cannot be sent again (its flow is gone), not even with the
	// flow cookie kept.
	if c.cookie("upstream") != "" || binding == "" {
		t.Fatalf("flow cookie: %q before, %q after the sign-up", binding, c.cookie("upstream"))
	}
	again := ts.client(t)
	again.setCookie("upstream", binding)
	res = again.postForm(route.URL(route.SocialSignup), url.Values{"username": {"alice2"}, "email": {"alice2@corp.example"}})
	wantStatus(t, res, http.StatusBadRequest)

	// Next time the identity signs straight in, and the session says how.
	c2 := ts.client(t)
	res = upstreamCallback(t, c2, m, mockUser("sub-alice", "alice@corp.example", true, "alice"))
	wantRedirect(t, res, "/accounts/profile/")
	if got := signedInAs(t, c2); got != "alice" {
		t.Fatalf("second sign-in: signed in as %q, want alice", got)
	}
	var s models.Session
	if err := ts.db.Where("user_id = ?", u.ID).Order("created_at DESC").Take(&s).Error; err != nil {
		t.Fatal(err)
	}
	if s.AuthMethod != "oidc:corp" {
		t.Fatalf("session auth method: got %q, want oidc:corp", s.AuthMethod)
	}
	ev, err := models.NewEvents(ts.db).ForUser(context.Background(), u.ID, 20)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ev {
		if e.Kind == models.EventLoginSucceeded && strings.Contains(models.EventDetail(context.Background(), &e), "Corp SSO") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no sign-in event naming the provider in %+v", ev)
	}
}

// The attack: a provider (or a person at one) presents someone else's
// address. It is never attached to that account on its say-so.
func TestUpstreamNoTakeoverByEmail(t *testing.T) {
	m := startMockOIDC(t)
	cases := []struct {
		name          string
		setting       bool
		claimVerified bool
		wantTakeover  bool
	}{
		{"unverified address, setting off", false, false, false},
		{"verified address, setting off", false, true, false},
		{"unverified address, setting on", true, false, false},
		{"verified address, setting on", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, withProviders(corpProvider(m)), func(c *Config) { c.SocialEmailAuthentication = tc.setting })
			victim := ts.createUser(t, "victim", "victim@example.com", "correct horse battery") // verified
			c := ts.client(t)
			res := upstreamCallback(t, c, m, mockUser("attacker-sub", "Victim@Example.com", tc.claimVerified, "victim"))
			ids, err := ts.app.Accounts().Identities(context.Background(), victim.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantTakeover {
				wantStatus(t, res, http.StatusConflict)
				if !strings.Contains(res.text(t, `[data-testid="social-error"]`), "Sign in to that account") {
					t.Fatalf("error page does not explain: %s", res.body)
				}
				if signedInAs(t, c) != "" || len(ids) != 0 {
					t.Fatalf("taken over: signed in as %q, identities %d", signedInAs(t, c), len(ids))
				}
				// Nor can the short sign-up form be reached to claim it.
				wantStatus(t, c.get(route.URL(route.SocialSignup)), http.StatusBadRequest)
				return
			}
			wantRedirect(t, res, "/accounts/profile/")
			if got := signedInAs(t, c); got != "victim" || len(ids) != 1 {
				t.Fatalf("verified on both sides with the setting on: signed in as %q with %d identities", got, len(ids))
			}
		})
	}
	t.Run("account address unverified, setting on", func(t *testing.T) {
		ts := newTestServer(t, withProviders(corpProvider(m)), func(c *Config) { c.SocialEmailAuthentication = true })
		victim := ts.createUser(t, "victim", "victim@example.com", "correct horse battery")
		if err := ts.db.Model(&models.User{}).Where("id = ?", victim.ID).Update("email_verified", false).Error; err != nil {
			t.Fatal(err)
		}
		c := ts.client(t)
		wantStatus(t, upstreamCallback(t, c, m, mockUser("attacker-sub", "victim@example.com", true, "v")), http.StatusConflict)
		if signedInAs(t, c) != "" {
			t.Fatal("signed in to an account whose address is not verified")
		}
	})
}

// tamperUser lets a test change the ID token mockoidc signs.
type tamperUser struct {
	*mockoidc.MockUser
	tamper func(*mockoidc.IDTokenClaims)
}

func (u tamperUser) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	u.tamper(c)
	return u.MockUser.Claims(scope, c)
}

// Every way a callback can go wrong ends on the error page with a 4xx or
// 502, signs nobody in, and never loops.
func TestUpstreamCallbackFailures(t *testing.T) {
	m, tokenCalls := startCountingMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	existing := ts.createUser(t, "carol", "carol@example.com", "correct horse battery")
	linkIdentity(t, ts, existing.ID, "corp", "sub-carol")
	carol := func() *mockoidc.MockUser { return mockUser("sub-carol", "carol@example.com", true, "carol") }

	check := func(t *testing.T, c *testClient, res *response, want int) {
		t.Helper()
		wantStatus(t, res, want)
		if res.doc(t).Find(`[data-testid="social-error"]`).Length() != 1 || res.doc(t).Find(`[data-testid="social-error-login"]`).Length() != 1 {
			t.Fatalf("not the error page with the other ways in: %s", res.body)
		}
		if got := signedInAs(t, c); got != "" {
			t.Fatalf("signed in as %q after a failed callback", got)
		}
	}
	t.Run("the sign-in works untampered", func(t *testing.T) {
		c := ts.client(t)
		wantRedirect(t, upstreamCallback(t, c, m, carol()), "/accounts/profile/")
	})
	t.Run("wrong state", func(t *testing.T) {
		c := ts.client(t)
		m.QueueUser(carol())
		cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", strings.Repeat("A", 43))
		u.RawQuery = q.Encode()
		check(t, c, c.get(u.String()), http.StatusBadRequest)
	})
	t.Run("replayed callback", func(t *testing.T) {
		c := ts.client(t)
		m.QueueUser(carol())
		cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil))
		wantStatus(t, c.get(cb), http.StatusSeeOther)
		c.postForm(route.URL(route.Logout), nil)
		check(t, c, c.get(cb), http.StatusBadRequest)
	})
	t.Run("callback in another browser (login CSRF)", func(t *testing.T) {
		attacker := ts.client(t)
		m.QueueUser(carol())
		cb := atProvider(t, startUpstream(t, attacker, route.URL(route.SocialLogin, "corp"), nil))
		// The victim has a flow of their own (a valid cookie), and is
		// lured to the attacker's callback: refused before the code is
		// spent, so the attacker's flow is untouched.
		victim := ts.client(t)
		startUpstream(t, victim, route.URL(route.SocialLogin, "corp"), nil)
		check(t, victim, victim.get(cb), http.StatusBadRequest)
		if strings.Contains(ts.logs.String(), "code exchange") {
			t.Fatal("the other browser's callback reached the code exchange")
		}
		wantRedirect(t, attacker.get(cb), "/")
		if got := signedInAs(t, attacker); got != "carol" {
			t.Fatalf("the flow's own browser: signed in as %q, want carol", got)
		}
	})
	t.Run("parallel replay signs in once", func(t *testing.T) {
		c := ts.client(t)
		m.QueueUser(carol())
		cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil))
		calls := tokenCalls.Load()
		var wg sync.WaitGroup
		codes := make(chan int, 8)
		for range 8 {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, ts.URL+cb, nil)
				for _, ck := range c.http.Jar.Cookies(req.URL) {
					req.AddCookie(ck)
				}
				res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				codes <- res.StatusCode
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for code := range codes {
			switch code {
			case http.StatusSeeOther:
				ok++
			case http.StatusBadRequest:
			default:
				t.Errorf("parallel callback: status %d", code)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of 8 parallel callbacks signed in, want 1", ok)
		}
		// The flow is consumed before the code is spent: one exchange,
		// not one per request (the provider's own single use of codes is
		// not what holds).
		if n := tokenCalls.Load() - calls; n != 1 {
			t.Fatalf("%d code exchanges for 8 parallel callbacks, want 1", n)
		}
	})
	t.Run("denied consent", func(t *testing.T) {
		c := ts.client(t)
		pu, _ := url.Parse(startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil))
		cb := route.URL(route.SocialCallback, "corp") + "?" + url.Values{"error": {"access_denied"}, "state": {pu.Query().Get("state")}}.Encode()
		check(t, c, c.get(cb), http.StatusForbidden)
	})
	t.Run("expired or forged code", func(t *testing.T) {
		c := ts.client(t)
		m.QueueUser(carol())
		cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("code", "not-a-code-the-provider-issued")
		u.RawQuery = q.Encode()
		check(t, c, c.get(u.String()), http.StatusBadRequest)
	})
	for _, tc := range []struct {
		name   string
		tamper func(*mockoidc.IDTokenClaims)
	}{
		{"nonce mismatch", func(c *mockoidc.IDTokenClaims) { c.Nonce = "someone-elses-nonce" }},
		{"token for another client (aud)", func(c *mockoidc.IDTokenClaims) { c.Audience = jwt.ClaimStrings{"another-client"} }},
		{"expired id token", func(c *mockoidc.IDTokenClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }},
		{"another issuer", func(c *mockoidc.IDTokenClaims) { c.Issuer = "https://evil.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.client(t)
			check(t, c, upstreamCallback(t, c, m, tamperUser{carol(), tc.tamper}), http.StatusBadRequest)
		})
	}
}

// A provider that is down, or whose discovery names another issuer, ends
// on the error page (502) before anything is stored.
func TestUpstreamProviderDownOrWrongIssuer(t *testing.T) {
	m := startMockOIDC(t)
	down := corpProvider(m)
	down.ID, down.Name, down.Issuer = "down", "Down SSO", "http://127.0.0.1:1/oidc"
	wrong := corpProvider(m)
	wrong.ID, wrong.Name, wrong.Issuer = "wrong", "Wrong SSO", m.Issuer()+"/"
	ts := newTestServer(t, withProviders(down, wrong))
	for _, id := range []string{"down", "wrong"} {
		c := ts.client(t)
		res := c.postForm(route.URL(route.SocialLogin, id), nil)
		wantStatus(t, res, http.StatusBadGateway)
		if res.doc(t).Find(`[data-testid="social-error"]`).Length() != 1 {
			t.Fatalf("%s: not the error page: %s", id, res.body)
		}
	}
	var n int64
	ts.db.Model(&models.SocialFlow{}).Count(&n)
	if n != 0 {
		t.Fatalf("%d flows stored for unreachable providers", n)
	}
}

// linkIdentity connects an identity to an account through the model.
func linkIdentity(t *testing.T, ts *testServer, userID uint, provider, subject string) *models.SocialIdentity {
	t.Helper()
	now := time.Now().UTC()
	id := &models.SocialIdentity{UserID: userID, Provider: provider, Subject: subject, CreatedAt: now, LastUsedAt: now}
	if err := ts.db.Create(id).Error; err != nil {
		t.Fatal(err)
	}
	return id
}

// Second factors still apply after an upstream sign-in.
func TestUpstreamSignInStillAsksSecondFactor(t *testing.T) {
	m := startMockOIDC(t)
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withProviders(corpProvider(m)), withSecretKey, withMail, func(c *Config) { c.NewDeviceNotice = true })
	c, u := ts.signUpAndLogin(t, "dave", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	linkIdentity(t, ts, u.ID, "corp", "sub-dave")

	b := ts.client(t)
	res := upstreamCallback(t, b, m, mockUser("sub-dave", "dave@example.com", true, "dave"))
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, secondStepURL) {
		t.Fatalf("after the provider: Location %q, want the second step", loc)
	}
	if signedInAs(t, b) != "" {
		t.Fatal("signed in before the second factor")
	}
	res = b.postForm(secondStepURL, url.Values{"code": {totpAt(t, secret, nowStep()+1)}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := signedInAs(t, b); got != "dave" {
		t.Fatalf("after the code: signed in as %q, want dave", got)
	}
	// The session records both steps: the provider and the factor. The
	// sessions page says so, and so does the sign-in's event.
	page := b.get(route.URL(route.Sessions))
	wantStatus(t, page, http.StatusOK)
	cur := page.doc(t).Find(`[data-testid="own-session-row"]:has([data-testid="session-current"]) [data-testid="session-method"]`).Text()
	if !strings.Contains(cur, "Corp SSO and an authenticator app") {
		t.Errorf("sessions page: this session signed in %q, want Corp SSO and an authenticator app", cur)
	}
	// The admin's user page says it too.
	admin, _ := ts.createAdmin(t, "boss", true, true)
	methods := admin.get(route.URL(route.AdminUser, u.ID)).doc(t).Find(`[data-testid="session-row"] [data-testid="session-method"]`).Text()
	if !strings.Contains(methods, "with Corp SSO and an authenticator app") {
		t.Errorf("admin user page: sessions signed in %q", methods)
	}
	var signedIn models.AuthEvent
	if err := ts.db.Where("user_id = ? AND kind = ?", u.ID, models.EventLoginSucceeded).Order("id DESC").Take(&signedIn).Error; err != nil ||
		!strings.Contains(models.EventDetail(context.Background(), &signedIn), "oidc:corp+totp") {
		t.Errorf("sign-in event: %q, %v; want it naming oidc:corp+totp", signedIn.Detail, err)
	}
	// The new-browser notice names the provider too, as after a
	// provider alone.
	if msg := mailAbout(t, srv, "New sign-in"); !strings.Contains(msg.Text, "The sign-in was through Corp SSO.") {
		t.Errorf("new-browser notice after the second step does not name the provider:\n%s", msg.Text)
	}
}

// The last way in cannot be disconnected, even by two requests at once.
func TestDisconnectKeepsALastWayIn(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "erin", "erin@example.com", "correct horse battery")
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("password", "!unusable").Error; err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		a := linkIdentity(t, ts, u.ID, "corp", "erin-a-"+string(rune('0'+round)))
		b := linkIdentity(t, ts, u.ID, "github", "erin-b-"+string(rune('0'+round)))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []uint{a.ID, b.ID} {
			wg.Go(func() { errs[i] = ts.app.Accounts().DisconnectIdentity(context.Background(), u.ID, id, nil) })
		}
		wg.Wait()
		left, err := ts.app.Accounts().Identities(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 {
			t.Fatalf("round %d: %d identities left (errors %v), want 1", round, len(left), errs)
		}
		last := 0
		for _, err := range errs {
			if err == auth.ErrLastWayIn {
				last++
			} else if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if last != 1 {
			t.Fatalf("round %d: %d refusals, want 1", round, last)
		}
		if err := ts.app.Accounts().DisconnectIdentity(context.Background(), u.ID, left[0].ID, nil); err != auth.ErrLastWayIn {
			t.Fatalf("round %d: removing the last: %v, want ErrLastWayIn", round, err)
		}
		ts.db.Where("user_id = ?", u.ID).Delete(&models.SocialIdentity{})
	}
}

// allowed_domains admits only verified addresses in those domains.
func TestUpstreamAllowedDomains(t *testing.T) {
	m := startMockOIDC(t)
	p := corpProvider(m)
	p.AllowedDomains = []string{"corp.example"}
	ts := newTestServer(t, withProviders(p))
	for _, tc := range []struct {
		name     string
		email    string
		verified bool
		want     int
	}{
		{"another domain", "joe@gmail.example", true, http.StatusForbidden},
		{"a look-alike domain", "joe@corp.example.evil", true, http.StatusForbidden},
		{"unverified address in the domain", "joe@corp.example", false, http.StatusForbidden},
		{"verified address in the domain", "joe@CORP.example", true, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.client(t)
			res := upstreamCallback(t, c, m, mockUser("sub-"+tc.name, tc.email, tc.verified, "joe"))
			wantStatus(t, res, tc.want)
			if tc.want == http.StatusForbidden && !strings.Contains(res.text(t, `[data-testid="social-error"]`), "not one that may sign in here") {
				t.Fatalf("error page: %s", res.body)
			}
		})
	}
}

// The per-address limit on starting sign-ins is taken before anything is
// stored or the provider is asked: a parallel burst gets exactly the
// quota.
func TestUpstreamStartLimitUnderBurst(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)), func(c *Config) { c.SocialLimitPerIP = models.Limit{Max: 5, Window: time.Hour} })
	const n = 30
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := http.Post(ts.URL+route.URL(route.SocialLogin, "corp"), "application/x-www-form-urlencoded", strings.NewReader(""))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			codes <- res.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusOK] != 5 || got[http.StatusTooManyRequests] != n-5 {
		t.Fatalf("statuses %v, want 5 × 200 and %d × 429", got, n-5)
	}
	var flows int64
	ts.db.Model(&models.SocialFlow{}).Count(&flows)
	if flows != 5 {
		t.Fatalf("%d flows stored, want 5", flows)
	}
}
