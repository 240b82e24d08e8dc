package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gin-gonic/gin"

	"gatehouse/assets"
	"gatehouse/internal/passhash"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

func sessionCookie(t *testing.T, res *response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == websession.SessionCookieName || c.Name == websession.SecureSessionCookieName {
			return c
		}
	}
	t.Fatalf("no session cookie in response")
	return nil
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name, baseURL string
		secure        bool
	}{
		{"http", "http://example.test", false},
		{"https", "https://auth.example.test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.BaseURL = tc.baseURL })
			ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
			res := ts.client(t).postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}, "remember": {"on"}})
			wantStatus(t, res, http.StatusSeeOther)
			ck := sessionCookie(t, res)
			// Over https the cookie carries the __Host- prefix: browsers
			// then refuse it without Secure and Path=/, or with a Domain,
			// so a sibling subdomain or plain-http page cannot plant one.
			if wantName := map[bool]string{false: "sessionid", true: "__Host-sessionid"}[tc.secure]; ck.Name != wantName || ck.Domain != "" {
				t.Errorf("cookie name/domain: got %q/%q, want %q and no domain", ck.Name, ck.Domain, wantName)
			}
			if hsts := res.Header.Get("Strict-Transport-Security"); (hsts != "") != tc.secure {
				t.Errorf("Strict-Transport-Security: got %q, want it exactly when the site is https", hsts)
			}
			if !ck.HttpOnly {
				t.Errorf("HttpOnly: got false, want true")
			}
			if ck.SameSite != http.SameSiteLaxMode {
				t.Errorf("SameSite: got %v, want Lax", ck.SameSite)
			}
			if ck.Secure != tc.secure {
				t.Errorf("Secure: got %v, want %v", ck.Secure, tc.secure)
			}
			if ck.Path != "/" || ck.MaxAge <= 0 {
				t.Errorf("Path/MaxAge: got %q/%d", ck.Path, ck.MaxAge)
			}
			if _, ok := models.SessionIDFromToken(ck.Value); !ok {
				t.Errorf("cookie value is not a 256-bit token")
			}
		})
	}
}

func TestCrossSitePostIsForbidden(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	victim, _ := ts.signUpAndLogin(t, "bob", "correct-horse-battery")
	cases := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := victim.newRequest(http.MethodPost, "/accounts/logout/", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := victim.do(req)
			wantStatus(t, res, tc.want)
			if tc.want == http.StatusForbidden {
				if got := victim.get("/").text(t, "[data-testid=greeting]"); got != "Hi bob!" {
					t.Errorf("after refused cross-site logout: greeting %q, want still signed in", got)
				}
				if !strings.Contains(res.body, "Cross-site requests are not allowed") {
					t.Errorf("403 page: missing explanation")
				}
			}
		})
	}
	// A cross-site login POST (login CSRF) is refused too.
	c := ts.client(t)
	req := c.newRequest(http.MethodPost, "/accounts/login/", strings.NewReader("username=alice&password=correct-horse-battery"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, c.do(req), http.StatusForbidden)
}

func TestSecurityAndCacheHeaders(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	for _, path := range []string{"/", "/accounts/profile/", "/no-such-page/"} {
		res := c.get(path)
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s CSP: got %q, want it to contain %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s CSP allows unsafe scripts: %q", path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s %s: got %q, want %q", path, k, got, want)
			}
		}
		if !strings.Contains(h.Get("Vary"), "HX-Request") {
			t.Errorf("%s Vary: got %q, want HX-Request in it", path, h.Get("Vary"))
		}
	}
}

func TestNoInlineScripts(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	anon := ts.client(t)
	for _, res := range []*response{c.get("/"), c.get("/accounts/profile/"), anon.get("/accounts/login/"), anon.get("/nope")} {
		doc := res.doc(t)
		doc.Find("script").Each(func(_ int, s *goquery.Selection) {
			if src, ok := s.Attr("src"); !ok || src == "" {
				t.Errorf("%s: inline script found", res.Request.URL.Path)
			}
		})
		if regexp.MustCompile(`\shx-on[:-]|\son[a-z]+=`).MatchString(res.body) {
			t.Errorf("%s: inline event handler found", res.Request.URL.Path)
		}
	}
}

func TestBodyCapAnswers413(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	c := ts.client(t)
	big := strings.Repeat("a", 100<<10)
	res := c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {big}})
	wantStatus(t, res, http.StatusRequestEntityTooLarge)
	if !strings.Contains(res.body, "Request too large") {
		t.Errorf("413 page: missing title")
	}
	// Without Content-Length (chunked), the cap applies while reading.
	req := c.newRequest(http.MethodPost, "/accounts/login/", strings.NewReader("password="+big))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantStatus(t, c.do(req), http.StatusRequestEntityTooLarge)
	// To htmx, the error goes to the message area, the form is untouched.
	req = c.newRequest(http.MethodPost, "/accounts/login/", strings.NewReader("password="+big))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	hx := c.do(req)
	wantStatus(t, hx, http.StatusRequestEntityTooLarge)
	if got := hx.Header.Get("HX-Retarget"); got != "#messages" {
		t.Errorf("htmx 413 HX-Retarget: got %q, want #messages", got)
	}
}

func TestHostileLoginInputGivesFormErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)
	cases := []struct {
		name string
		body string
	}{
		{"nul byte in username", "username=ali%00ce&password=correct-horse-battery"},
		{"invalid utf-8", "username=%ff%fe&password=correct-horse-battery"},
		{"control chars", "username=%1b%5b31m&password=x"},
		{"bad percent encoding", "username=alice&password=%zz"},
		{"repeated fields", "username=a&username=b&password=x&password=y"},
		{"no fields", ""},
		{"huge username", "username=" + strings.Repeat("x", 200000) + "&password=x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := c.newRequest(http.MethodPost, "/accounts/login/", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res := c.do(req)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if res.doc(t).Find("form#login-form").Length() != 1 {
				t.Errorf("got no login form in the answer")
			}
		})
	}
	// Bad percent-encoding keeps the fields that could be read.
	req := c.newRequest(http.MethodPost, "/accounts/login/", strings.NewReader("username=alice&password=%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	bad := c.do(req)
	if got, _ := bad.doc(t).Find("#id_username").Attr("value"); got != "alice" {
		t.Errorf("malformed body: username kept %q, want alice", got)
	}
}

// TestMegabytePasswordIsNotHashed: a 1 MB password is refused without
// computing any hash (argon2 over it with production parameters would cost
// far more than a normal attempt). The hasher counts the slots taken, so
// the test does not depend on how fast the machine is; a normal wrong
// password, for contrast, takes one.
func TestMegabytePasswordIsNotHashed(t *testing.T) {
	hasher := passhash.NewHasher(testHashParams, 4, 5*time.Second)
	ts := newTestServerWith(t, testSetup{hasher: hasher})
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	var hashes atomic.Int64
	hasher.ObserveWait(func(time.Duration) { hashes.Add(1) })
	c := ts.client(t)
	pw := strings.Repeat("p", 1_000_000)
	res := c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {pw}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if strings.Contains(res.body, pw[:1000]) {
		t.Errorf("password echoed back")
	}
	if n := hashes.Swap(0); n != 0 {
		t.Errorf("1 MB password: got %d hashes computed, want none", n)
	}
	wantStatus(t, c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"a wrong password"}}), http.StatusUnprocessableEntity)
	if n := hashes.Load(); n != 1 {
		t.Errorf("wrong password of normal length: got %d hashes computed, want 1", n)
	}
}

func TestErrorPages(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	cases := []struct {
		method, path string
		want         int
		title        string
	}{
		{http.MethodGet, "/no/such/page/", http.StatusNotFound, "Page not found"},
		{http.MethodGet, "/accounts/logout/", http.StatusMethodNotAllowed, "Method not allowed"},
		{http.MethodDelete, "/accounts/login/", http.StatusMethodNotAllowed, "Method not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := c.do(c.newRequest(tc.method, tc.path, nil))
			wantStatus(t, res, tc.want)
			if got := res.text(t, "[data-testid=error-title]"); got != tc.title {
				t.Errorf("title: got %q, want %q", got, tc.title)
			}
		})
	}
}

func TestPanicGives500PageWithoutStackTrace(t *testing.T) {
	ts := newTestServer(t)
	// The full router, plus one route that panics.
	r := ts.app.router()
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	srv := httptest.NewServer(r)
	defer srv.Close()
	c := ts.client(t)
	res := c.do(c.newRequest(http.MethodGet, srv.URL+"/boom", nil))
	wantStatus(t, res, http.StatusInternalServerError)
	if strings.Contains(res.body, "goroutine") || strings.Contains(res.body, ".go:") {
		t.Errorf("500 page leaks a stack trace")
	}
	if !strings.Contains(ts.logs.String(), "panic serving request") {
		t.Errorf("panic not logged")
	}
}

func TestAssetsAreHashedAndCachedForever(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	page := c.get("/accounts/login/")
	doc := page.doc(t)
	src, _ := doc.Find("script[src*=htmx]").Attr("src")
	if src != assets.Path("htmx.min.js") || !regexp.MustCompile(`^/assets/htmx\.min\.[0-9a-f]{12}\.js$`).MatchString(src) {
		t.Fatalf("htmx src: got %q", src)
	}
	res := c.get(src)
	wantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") || !strings.Contains(got, "max-age=31536000") {
		t.Errorf("Cache-Control: got %q", got)
	}
	if !strings.Contains(res.body, "4.0.1") {
		t.Errorf("vendored htmx is not 4.0.1")
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type: got %q", ct)
	}
	wantStatus(t, c.get("/assets/htmx.min.js"), http.StatusNotFound)
	css, _ := doc.Find("link[rel=stylesheet]").Attr("href")
	wantStatus(t, c.get(css), http.StatusOK)
}
