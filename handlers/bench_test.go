package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"gatehouse/models"
)

// Benchmarks of the hot path, through the real middleware stack but without
// the network: go test -run '^$' -bench . -benchmem ./handlers/

// newBenchServer is newTestServer logging as production does (info level,
// so the per-request debug line is skipped), to io.Discard.
func newBenchServer(b *testing.B) *testServer {
	b.Helper()
	ts := newTestServer(b)
	ts.h.log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return ts
}

// benchSession returns a server with one user and that user's session
// cookie, obtained by logging in through the app.
func benchSession(b *testing.B) (*testServer, *http.Cookie) {
	b.Helper()
	ts := newBenchServer(b)
	ts.createUser(b, "alice", "alice@example.com", "a long enough passphrase")
	form := url.Values{"username": {"alice"}, "password": {"a long enough passphrase"}}
	req := httptest.NewRequest(http.MethodPost, "/accounts/login/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ts.h.Routes().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("login: got status %d, want 303", rec.Code)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == models.SessionCookieName {
			return ts, c
		}
	}
	b.Fatal("login: no session cookie")
	return nil, nil
}

// serveLoop serves req to h b.N times, checking the status and (once) that
// the body contains want.
func serveLoop(b *testing.B, h http.Handler, req *http.Request, status int, want string) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != status || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("%s: got %d, want %d with %q; body: %.500s", req.URL.Path, rec.Code, status, want, rec.Body.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != status {
			b.Fatalf("%s: got %d, want %d", req.URL.Path, rec.Code, status)
		}
	}
}

func BenchmarkHealthz(b *testing.B) {
	ts := newBenchServer(b)
	serveLoop(b, ts.h.Routes(), httptest.NewRequest(http.MethodGet, "/healthz", nil), http.StatusOK, "ok")
}

func BenchmarkLoginPageAnonymous(b *testing.B) {
	ts := newBenchServer(b)
	serveLoop(b, ts.h.Routes(), httptest.NewRequest(http.MethodGet, "/accounts/login/", nil), http.StatusOK, `id="login-form"`)
}

func BenchmarkHomeSignedIn(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	serveLoop(b, ts.h.Routes(), req, http.StatusOK, "Hi alice!")
}

func BenchmarkProfileSignedIn(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/profile/", nil)
	req.AddCookie(cookie)
	serveLoop(b, ts.h.Routes(), req, http.StatusOK, "alice@example.com")
}

// BenchmarkLoadUser is the auth middleware alone: session lookup and user,
// behind only the sessions middleware it needs.
func BenchmarkLoadUser(b *testing.B) {
	ts, cookie := benchSession(b)
	h := ts.h
	r := gin.New()
	r.GET("/", sessions.Sessions(models.SessionCookieName, h.store), h.loadUser, func(c *gin.Context) {
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
