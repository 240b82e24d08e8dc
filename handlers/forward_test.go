package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/internal/access"
	"gatehouse/internal/route"
	"gatehouse/models"
)

const testRules = `
access_control:
  default_policy: deny
  rules:
    - domain: public.example.test
      policy: bypass
    - domain: ops.internal.test
      subject: "group:ops"
      policy: one_factor
    - domain: secure.example.test
      policy: two_factor
    - domain: app.example.test
      resources: ['^/admin']
      policy: deny
    - domain: "*.example.test"
      policy: one_factor
`

// withRules writes rules to a file and makes it ACCESS_RULES.
func withRules(t testing.TB, rules string) func(*Config) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(p, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := access.NewStore(p)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.AccessRules = store
		c.TrustedProxies = []string{"127.0.0.1", "::1"}
	}
}

// withCookieDomain sets SESSION_COOKIE_DOMAIN (the test client's jar then
// keeps the cookie away from 127.0.0.1: only for tests that need no
// session).
func withCookieDomain(c *Config) { c.SessionCookieDomain = ".example.test" }

// forwardReq asks /auth/forward about method scheme://host+uri, as Caddy
// does, with the client's cookies.
func (c *testClient) forward(host, uri string, hdr ...string) *response {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, "/auth/forward", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", host)
	req.Header.Set("X-Forwarded-Uri", uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

// request asks /auth/request about rawURL, as nginx does.
func (c *testClient) request(rawURL string, hdr ...string) *response {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, "/auth/request", nil)
	req.Header.Set("X-Original-URL", rawURL)
	req.Header.Set("X-Original-Method", "GET")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

func loginFor(next string) string {
	return "http://example.test/accounts/login/?next=" + url.QueryEscape(next)
}

func wantIdentity(t *testing.T, res *response, user, groups string) {
	t.Helper()
	wantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("Remote-User"); got != user {
		t.Errorf("Remote-User: got %q, want %q", got, user)
	}
	if got := res.Header.Get("Remote-Groups"); got != groups {
		t.Errorf("Remote-Groups: got %q, want %q", got, groups)
	}
	if got := res.Header.Get("Remote-Email"); got == "" {
		t.Error("no Remote-Email")
	}
}

// TestForwardAuth: the answers of /auth/forward and /auth/request for
// each policy, signed in or not, and what changes them on the next check:
// a group added, a logout, a deactivation.
func TestForwardAuth(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules))
	anon := ts.client(t)

	t.Run("anonymous goes to the login page with next", func(t *testing.T) {
		res := anon.forward("app.example.test", "/page?q=1")
		wantRedirect302(t, res, loginFor("http://app.example.test/page?q=1"))
		res = anon.request("http://app.example.test/page?q=1")
		wantStatus(t, res, http.StatusUnauthorized)
		if got := res.Header.Get("Location"); got != loginFor("http://app.example.test/page?q=1") {
			t.Errorf("/auth/request Location: got %q", got)
		}
	})
	t.Run("bypass lets anyone in without identity", func(t *testing.T) {
		res := anon.forward("public.example.test", "/")
		wantStatus(t, res, http.StatusOK)
		if res.Header.Get("Remote-User") != "" {
			t.Error("bypass sent Remote-User")
		}
	})
	t.Run("default deny", func(t *testing.T) {
		wantStatus(t, anon.forward("other.test", "/"), http.StatusForbidden)
	})
	t.Run("JSON clients get 401 without HTML", func(t *testing.T) {
		res := anon.forward("app.example.test", "/api", "Accept", "application/json")
		wantStatus(t, res, http.StatusUnauthorized)
		var body map[string]string
		if err := json.Unmarshal([]byte(res.body), &body); err != nil || body["location"] == "" {
			t.Errorf("body %q: %v", res.body, err)
		}
	})

	c, u := ts.signUpAndLogin(t, "alice", "a long enough passphrase")
	t.Run("signed in: identity headers", func(t *testing.T) {
		wantIdentity(t, c.forward("app.example.test", "/"), "alice", "")
		wantIdentity(t, c.request("http://app.example.test/x"), "alice", "")
	})
	t.Run("deny rule: 403 page naming the user", func(t *testing.T) {
		res := c.forward("app.example.test", "/admin/x")
		wantStatus(t, res, http.StatusForbidden)
		if got := res.text(t, `[data-testid="denied-user"]`); got != "alice" {
			t.Errorf("denied page user: got %q", got)
		}
		if href, _ := res.doc(t).Find(`[data-testid="switch-account"]`).Attr("href"); !strings.HasPrefix(href, "http://example.test/auth/denied/?next=") {
			t.Errorf("switch link: got %q", href)
		}
		res = c.forward("app.example.test", "/admin/x", "Accept", "application/json")
		wantStatus(t, res, http.StatusForbidden)
		if strings.Contains(res.body, "<") {
			t.Errorf("JSON 403 has markup: %q", res.body)
		}
	})
	t.Run("group rule denies, then allows after a group add", func(t *testing.T) {
		wantStatus(t, c.forward("ops.internal.test", "/"), http.StatusForbidden)
		if _, err := ts.app.Accounts().GroupAddByCommand(t.Context(), "ops", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, c.forward("ops.internal.test", "/"), "alice", "ops")
		if _, err := ts.app.Accounts().GroupAddByCommand(t.Context(), "dev", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, c.forward("ops.internal.test", "/"), "alice", "dev,ops")
		if _, err := ts.app.Accounts().GroupRemoveByCommand(t.Context(), "ops", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c.forward("ops.internal.test", "/"), http.StatusForbidden)
	})
	t.Run("denials are recorded once per user and rule", func(t *testing.T) {
		for range 5 {
			c.forward("app.example.test", "/admin/y")
		}
		evs, err := models.NewEvents(ts.db).ForUser(t.Context(), u.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, e := range evs {
			if e.Kind == models.EventForwardDenied {
				n[e.Detail]++
			}
		}
		// ops.internal.test was refused three times by the default
		// policy, app.example.test/admin six times by rule 4.
		want := map[string]int{"refused app.example.test (rule 4)": 1, "refused ops.internal.test (default policy)": 1}
		if fmt.Sprint(n) != fmt.Sprint(want) {
			t.Errorf("denial events: got %v, want %v", n, want)
		}
	})
	t.Run("logout ends access on the next check", func(t *testing.T) {
		c2 := ts.client(t)
		c2.login("alice", "a long enough passphrase")
		wantStatus(t, c2.forward("app.example.test", "/"), http.StatusOK)
		wantStatus(t, c2.postForm("/accounts/logout/", nil), http.StatusSeeOther)
		c2.setCookie(ts.h.store.CookieName(), "")
		wantStatus(t, c2.forward("app.example.test", "/"), http.StatusFound)
	})
	t.Run("revoking a session ends its access on the next check", func(t *testing.T) {
		c4, _ := ts.signUpAndLogin(t, "carl", "a long enough passphrase")
		c5 := ts.client(t)
		c5.login("carl", "a long enough passphrase")
		wantIdentity(t, c4.forward("app.example.test", "/"), "carl", "")
		wantStatus(t, c5.postForm("/accounts/sessions/revoke-others/", nil), http.StatusSeeOther)
		wantStatus(t, c4.forward("app.example.test", "/"), http.StatusFound)
		wantIdentity(t, c5.forward("app.example.test", "/"), "carl", "")
	})
	t.Run("deactivation ends access on the next check", func(t *testing.T) {
		c3, u3 := ts.signUpAndLogin(t, "bob", "a long enough passphrase")
		wantStatus(t, c3.forward("app.example.test", "/"), http.StatusOK)
		if err := ts.db.Model(&models.User{}).Where("id = ?", u3.ID).Update("is_active", false).Error; err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c3.forward("app.example.test", "/"), http.StatusFound)
	})
}

func wantRedirect302(t *testing.T, res *response, want string) {
	t.Helper()
	wantStatus(t, res, http.StatusFound)
	if got := res.Header.Get("Location"); got != want {
		t.Errorf("Location: got %q, want %q", got, want)
	}
}

// TestForwardAuthTwoFactor: two_factor sends a user without a factor to set
// one up (forward_next_test.go follows that path back), one with a factor
// but a password-only session to confirm it (step-up, same session), and
// lets a session with a second factor in.
func TestForwardAuthTwoFactor(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withSecretKey, withCookieDomain)
	ts.createUser(t, "carol", "carol@example.com", "a long enough passphrase")
	c := ts.domainClient(t)
	c.login("carol", "a long enough passphrase")
	target := "http://secure.example.test/dash"
	res := c.forward("secure.example.test", "/dash")
	wantRedirect302(t, res, "http://example.test/accounts/2fa/?next="+url.QueryEscape(target))
	wantStatus(t, c.request(target), http.StatusUnauthorized)

	// The factor is set up in another browser: this session stays a
	// password-only one.
	other := ts.domainClient(t)
	other.login("carol", "a long enough passphrase")
	_, codes := activateTOTP(t, other)
	res = c.forward("secure.example.test", "/dash")
	wantRedirect302(t, res, "http://example.test/accounts/reauthenticate/?next="+url.QueryEscape(target))
	// The password alone does not step up.
	res = c.postForm("/accounts/reauthenticate/", url.Values{"password": {"a long enough passphrase"}, "next": {target}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantStatus(t, c.forward("secure.example.test", "/dash"), http.StatusFound)
	// Password and a second factor: the same browser, back to the app.
	res = c.postForm("/accounts/reauthenticate/", url.Values{"password": {"a long enough passphrase"}, "code": {codes[0]}, "next": {target}})
	wantRedirect(t, res, target)
	wantIdentity(t, c.forward("secure.example.test", "/dash"), "carol", "")
	if m := session0(t, ts, c).AuthMethod; m != auth.AuthPasswordRecovery {
		t.Errorf("auth_method after step-up: got %q", m)
	}
}

func session0(t *testing.T, ts *testServer, c *testClient) models.Session {
	t.Helper()
	id, ok := models.SessionIDFromToken(c.sessionCookie())
	if !ok {
		t.Fatal("no session cookie")
	}
	var s models.Session
	if err := ts.db.Take(&s, "id = ?", id).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

// TestForwardAuthRefusesUntrustedAndBadInput: the headers are believed only
// from TRUSTED_PROXIES; malformed or hostile originals are 400, never 500.
func TestForwardAuthRefusesUntrustedAndBadInput(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), func(c *Config) { c.TrustedProxies = []string{"10.0.0.1"} })
	anon := ts.client(t)
	wantStatus(t, anon.forward("public.example.test", "/"), http.StatusForbidden)
	wantStatus(t, anon.request("http://public.example.test/"), http.StatusForbidden)

	ts = newTestServer(t, withRules(t, testRules))
	anon = ts.client(t)
	for name, h := range map[string][]string{
		"no host":            {"X-Forwarded-Host", ""},
		"host with space":    {"X-Forwarded-Host", "a b"},
		"host with userinfo": {"X-Forwarded-Host", "app.example.test@evil"},
		"host with slash":    {"X-Forwarded-Host", "evil/x"},
		"huge host":          {"X-Forwarded-Host", strings.Repeat("a", 5000)},
		"bad proto":          {"X-Forwarded-Proto", "javascript"},
		"uri not a path":     {"X-Forwarded-Uri", "http://evil/"},
		"huge uri":           {"X-Forwarded-Uri", "/" + strings.Repeat("a", 9000)},
		"uri with tab":       {"X-Forwarded-Uri", "/a\tb"},
	} {
		t.Run(name, func(t *testing.T) {
			req := anon.newRequest(http.MethodGet, "/auth/forward", nil)
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("X-Forwarded-Host", "public.example.test")
			req.Header.Set("X-Forwarded-Uri", "/")
			req.Header.Set(h[0], h[1])
			wantStatus(t, anon.do(req), http.StatusBadRequest)
		})
	}
	for _, raw := range []string{"", "/relative", "ftp://a.example.test/", "http://u:p@app.example.test/", "%zz", strings.Repeat("x", 20000)} {
		res := anon.request(raw)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("X-Original-URL %q: got %d, want 400", raw, res.StatusCode)
		}
	}
}

// TestAbsoluteNext: with SESSION_COOKIE_DOMAIN, login follows an absolute
// next on a host within it with the site's scheme, and nothing else.
func TestAbsoluteNext(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules), withCookieDomain)
	ts.createUser(t, "dave", "dave@example.com", "a long enough passphrase")
	for next, want := range map[string]string{
		"http://app.example.test/x?y=1":                        "http://app.example.test/x?y=1",
		"http://example.test/":                                 "http://example.test/",
		"http://APP.example.test:8080/":                        "http://APP.example.test:8080/",
		"http://a.b.example.test":                              "http://a.b.example.test",
		"/local":                                               "/local",
		"https://app.example.test/":                            "/", // not the site's scheme
		"//evil.test/":                                         "/",
		"http://evil.test/":                                    "/",
		"http://app.example.test@evil.test/":                   "/",
		"http://evil.test\\@app.example.test/":                 "/",
		"http://app.example.test\\evil.test/":                  "/",
		"https://evil.example.test.attacker/":                  "/",
		"http://evil.example.test.attacker/":                   "/",
		"http://example.test.evil/":                            "/",
		"http://notexample.test/":                              "/",
		"http://app.example.test%2eevil.test/":                 "/",
		"http://app%2eexample.test/":                           "/",
		"http://app.example.test/%2f%2fevil":                   "/",
		"http://app.example.test//evil.test/":                  "/",
		"http://app.example.test/\x00":                         "/",
		"http://app.example.test/\u202e":                       "/",
		"http://[::1]/":                                        "/",
		"http://127.0.0.1/":                                    "/",
		"javascript:alert(1)//app.example.test":                "/",
		"http:app.example.test/":                               "/",
		"HTTP://app.example.test/":                             "/",
		"http://app.example.test:99999999/":                    "/",
		"http:\\\\app.example.test/":                           "/",
		"http://.example.test/":                                "/",
		"http://app.example.test" + strings.Repeat("/a", 2000): "/",
	} {
		t.Run(next, func(t *testing.T) {
			c := ts.client(t)
			res := c.postForm("/accounts/login/", url.Values{"username": {"dave"}, "password": {"a long enough passphrase"}, "next": {next}})
			wantRedirect(t, res, want)
		})
	}
}

// TestForwardAuthGroupsFromSessionLookup: on the forward-auth routes the
// session lookup reads the user's groups itself, and the session every
// later step sees is that same lookup's (no second lookup, no second
// query for the groups); other routes do not read them.
func TestForwardAuthGroupsFromSessionLookup(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules))
	c, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	if _, err := ts.app.Accounts().GroupAddByCommand(t.Context(), "ops", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: ts.h.store.CookieName(), Value: c.sessionCookie()}
	if cookie.Value == "" {
		t.Fatal("no session cookie")
	}
	h := ts.app.areas.mw
	for _, tc := range []struct {
		pattern    string
		wantGroups bool
	}{
		{route.Pattern(route.ForwardAuth), true},
		{route.Pattern(route.ForwardRequest), true},
		{route.Pattern(route.Home), false},
	} {
		r := gin.New()
		var got *models.SessionState
		r.GET(tc.pattern, h.installSessions(), h.loadUser, func(c *gin.Context) {
			got = session(c)
			c.Status(http.StatusNoContent)
		})
		req := httptest.NewRequest(http.MethodGet, tc.pattern, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || got == nil || !got.SignedIn() {
			t.Fatalf("%s: got %d, signed in %v", tc.pattern, rec.Code, got != nil && got.SignedIn())
		}
		if got.GroupsRead != tc.wantGroups || tc.wantGroups && got.GroupNames != "ops" {
			t.Errorf("%s: groups %q read %v, want read %v", tc.pattern, got.GroupNames, got.GroupsRead, tc.wantGroups)
		}
	}
}
