package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"gatehouse/internal/websession"
)

// Benchmarks of the hot path, through the real middleware stack but without
// the network: go test -run '^$' -bench . -benchmem ./handlers/

// newBenchServer is newTestServer logging as production does (info level,
// so the per-request debug line is skipped), to io.Discard.
func newBenchServer(b *testing.B, opts ...func(*Config)) *testServer {
	b.Helper()
	ts := newTestServer(b, opts...)
	ts.h.log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return ts
}

// benchSession returns a server with one user and that user's session
// cookie, obtained by logging in through the app.
func benchSession(b *testing.B, opts ...func(*Config)) (*testServer, *http.Cookie) {
	b.Helper()
	ts := newBenchServer(b, opts...)
	ts.createUser(b, "alice", "alice@example.com", "a long enough passphrase")
	form := url.Values{"username": {"alice"}, "password": {"a long enough passphrase"}}
	req := httptest.NewRequest(http.MethodPost, "/accounts/login/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ts.app.Routes().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("login: got status %d, want 303", rec.Code)
	}
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == websession.SessionCookieName {
			cookie = c
		}
	}
	if cookie == nil {
		b.Fatal("login: no session cookie")
	}
	// Show the welcome flash, so the session holds no data any more: the
	// state of a session while its user browses.
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	ts.app.Routes().ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "Welcome back") {
		b.Fatalf("first page after login: no welcome flash; body: %.500s", rec.Body.String())
	}
	return ts, cookie
}

// serveLoop serves req to h b.N times, checking the status and (once) that
// the body contains want.
func serveLoop(b *testing.B, h http.Handler, req *http.Request, status int, want string) {
	b.Helper()
	// A fresh request value each time: gorilla/sessions caches the loaded
	// session in the context of the request it is given.
	base := req.Context()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req.WithContext(base))
	if rec.Code != status || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("%s: got %d, want %d with %q; body: %.500s", req.URL.Path, rec.Code, status, want, rec.Body.String())
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(base))
		if rec.Code != status {
			b.Fatalf("%s: got %d, want %d", req.URL.Path, rec.Code, status)
		}
	}
}

// BenchmarkBareGin is the ceiling any Gin app can reach: a bare engine
// answering a fixed page, no middleware. Compare the others with it (the
// ratio is what docs/performance.md reports).
func BenchmarkBareGin(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	page := []byte(strings.Repeat("<p>Gatehouse</p>", 128))
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	serveLoop(b, r, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, "Gatehouse")
}

func BenchmarkHealthz(b *testing.B) {
	ts := newBenchServer(b)
	serveLoop(b, ts.app.Routes(), httptest.NewRequest(http.MethodGet, "/healthz", nil), http.StatusOK, "ok")
}

// BenchmarkLoginPageAnonymous is a visitor's plain GET of the login page:
// after the first, the plain lane answers it (lane.go).
func BenchmarkLoginPageAnonymous(b *testing.B) {
	ts := newBenchServer(b)
	serveLoop(b, ts.app.Routes(), httptest.NewRequest(http.MethodGet, "/accounts/login/", nil), http.StatusOK, `id="login-form"`)
	if ts.app.areas.signIn.loginPlain["en"].laneCount() == 0 {
		b.Fatal("the plain lane answered nothing")
	}
}

// BenchmarkLoginPageChain is the same page through the middleware chain:
// a header the plain lane does not know keeps the request out of it.
func BenchmarkLoginPageChain(b *testing.B) {
	ts := newBenchServer(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/login/", nil)
	req.Header.Set("X-Bench", "chain")
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, `id="login-form"`)
	if n := ts.app.areas.signIn.loginPlain["en"].laneCount(); n != 0 {
		b.Fatalf("the plain lane answered %d", n)
	}
}

func BenchmarkHomeSignedIn(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, "Hi alice!")
}

func BenchmarkProfileSignedIn(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/profile/", nil)
	req.AddCookie(cookie)
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, "alice@example.com")
}

// BenchmarkForwardSignedIn is a reverse proxy's forward-auth check for a
// signed-in member of a group, allowed by a group rule: the session lookup,
// the user's groups, the rule decision and the identity headers.
func BenchmarkForwardSignedIn(b *testing.B) {
	ts, cookie := benchSession(b, withRules(b, testRules), func(c *Config) {
		c.TrustedProxies = append(c.TrustedProxies, "192.0.2.1") // httptest.NewRequest's RemoteAddr
	})
	if _, err := ts.app.Accounts().GroupAddByCommand(b.Context(), "ops", []string{"alice"}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/auth/forward", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "ops.internal.test")
	req.Header.Set("X-Forwarded-Uri", "/dashboard?tab=1")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	ts.app.Routes().ServeHTTP(rec, req)
	if got := rec.Header().Get("Remote-Groups"); rec.Code != http.StatusOK || got != "ops" {
		b.Fatalf("forward: got %d with Remote-Groups %q, want 200 with \"ops\"", rec.Code, got)
	}
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, "")
}

// BenchmarkLoadUser is the auth middleware alone: session lookup and user,
// behind only the sessions middleware it needs.
func BenchmarkLoadUser(b *testing.B) {
	ts, cookie := benchSession(b)
	h := ts.app.areas.mw
	r := gin.New()
	r.GET("/", h.installSessions(), h.loadUser, func(c *gin.Context) {
		if currentUser(c) == nil {
			c.Status(http.StatusUnauthorized)
			return
		}
		c.Status(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	serveLoop(b, r, req, http.StatusNoContent, "")
}

// reportCPU adds a cpu-ns/op metric: the process's CPU time (user + system,
// all threads, GC included) per iteration. On a shared machine wall time
// per op swings with other load; CPU time much less so.
func reportCPU(b *testing.B) func() {
	var start syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	return func() {
		var end syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &end)
		cpu := end.Utime.Nano() + end.Stime.Nano() - start.Utime.Nano() - start.Stime.Nano()
		if b.N > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		}
	}
}

// The same pages in German (Accept-Language): the translated path costs
// the same as English (a map lookup per message; issue 28's budget is 5%).
func BenchmarkLoginPageAnonymousGerman(b *testing.B) {
	ts := newBenchServer(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/login/", nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, `lang="de"`)
}

func BenchmarkProfileSignedInGerman(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/profile/", nil)
	req.AddCookie(cookie)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, "Ihr Konto")
}
