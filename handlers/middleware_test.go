package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
)

// TestHealthzHeaders: /healthz, which sets no Content-Type of its own (so
// its header map stays within one map group, see healthz), still answers
// text/plain with every security header, no-store and a request ID; over
// https with HSTS too.
func TestHealthzHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		baseURL string
	}{{"http", ""}, {"https", "https://gatehouse.example.test"}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) {
				if tc.baseURL != "" {
					c.BaseURL = tc.baseURL
				}
			})
			res := ts.client(t).get("/healthz")
			wantStatus(t, res, http.StatusOK)
			if res.body != "ok" {
				t.Errorf("got body %q, want %q", res.body, "ok")
			}
			want := map[string]string{
				"Content-Type":            "text/plain; charset=utf-8",
				"Cache-Control":           "no-store",
				"Content-Security-Policy": contentSecurityPolicy,
			}
			for _, v := range securityHeaderValues {
				want[v.key] = v.val[0]
			}
			if tc.baseURL != "" {
				want["Strict-Transport-Security"] = hstsValue
			}
			for k, v := range want {
				if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: got %q, want [%q]", k, got, v)
				}
			}
			if tc.baseURL == "" && res.Header.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS over http: %q", res.Header.Get("Strict-Transport-Security"))
			}
			if id := res.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Errorf("X-Request-Id: got %q, want 32 hex digits", id)
			}
		})
	}
}

// TestRequestContext: a handler behind requestContext runs with the
// request's ID (as sent back in X-Request-Id), the client's address and
// user agent, and a database deadline, all in the request's context.
func TestRequestContext(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.DatabaseTimeout = 7 * time.Second })
	mw := ts.app.areas.mw
	r := gin.New()
	r.Use(mw.recoverPanics, mw.logRequests, mw.securityHeaders)
	type seen struct {
		id       string
		client   models.ClientInfo
		deadline time.Duration
		ok       bool
	}
	var got seen
	r.GET("/ctx", mw.requestContextFor(r), func(c *gin.Context) {
		ctx := c.Request.Context()
		got.id = RequestID(ctx)
		got.client = models.ClientInfoOf(ctx)
		d, ok := ctx.Deadline()
		got.deadline, got.ok = time.Until(d), ok
		c.Status(http.StatusNoContent)
	})
	for _, incoming := range []string{"", "proxy-id-123"} {
		req := httptest.NewRequest(http.MethodGet, "/ctx", nil)
		req.RemoteAddr = "198.51.100.7:4321"
		req.Header.Set("User-Agent", "probe/1.0")
		if incoming != "" {
			req.Header.Set("X-Request-ID", incoming)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("got status %d, want 204", rec.Code)
		}
		sent := rec.Header().Get("X-Request-Id")
		if got.id == "" || got.id != sent || (incoming != "" && sent != incoming) {
			t.Errorf("incoming %q: context ID %q, header %q", incoming, got.id, sent)
		}
		if got.client.IP != "198.51.100.7" || got.client.UserAgent != "probe/1.0" {
			t.Errorf("client info: got %+v", got.client)
		}
		if !got.ok || got.deadline <= 6*time.Second || got.deadline > 7*time.Second {
			t.Errorf("deadline: got %v in %v, want about 7s", got.ok, got.deadline)
		}
	}
}

// TestRequestClientResolvedLazily: the client's details are resolved when
// something first asks for them, once however many ask at once, with the
// engine's trusted proxies applied; and a reader holding the context after
// the request is done still gets that request's client, though its
// gin.Context has since served another request.
func TestRequestClientResolvedLazily(t *testing.T) {
	ts := newTestServer(t)
	mw := ts.app.areas.mw
	r := gin.New()
	if err := r.SetTrustedProxies([]string{"192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	var resolved atomic.Int64
	resolve := clientOf(r)
	var held []context.Context
	r.GET("/ctx", func(c *gin.Context) {
		mw.requestContext(c, func(req *http.Request) models.ClientInfo {
			resolved.Add(1)
			time.Sleep(20 * time.Millisecond) // long enough for readers to meet here
			return resolve(req)
		})
	}, func(c *gin.Context) {
		ctx := c.Request.Context()
		held = append(held, ctx)
		if c.Query("ask") == "" {
			c.Status(http.StatusNoContent)
			return
		}
		// A burst of readers: one resolution, the same answer for all.
		var wg sync.WaitGroup
		got := make([]models.ClientInfo, 16)
		for i := range got {
			wg.Go(func() { got[i] = models.ClientInfoOf(ctx) })
		}
		wg.Wait()
		for i, ci := range got {
			if ci != got[0] {
				t.Errorf("reader %d: got %+v, reader 0 got %+v", i, ci, got[0])
			}
		}
		c.Status(http.StatusNoContent)
	})
	serve := func(path, remote, xff, ua string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("User-Agent", ua)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("%s: got status %d, want 204", path, rec.Code)
		}
	}

	serve("/ctx", "198.51.100.7:4321", "203.0.113.9", "first/1.0")
	if n := resolved.Load(); n != 0 {
		t.Fatalf("nothing asked for the client, yet it was resolved %d times", n)
	}
	serve("/ctx?ask=1", "192.0.2.1:4321", "203.0.113.9", "second/1.0")
	if n := resolved.Load(); n != 1 {
		t.Fatalf("16 readers at once: resolved %d times, want 1", n)
	}
	serve("/ctx", "198.51.100.8:1", "", "third/1.0")

	// The first request, read now: its own peer (not trusted, so its
	// X-Forwarded-For is ignored), not the later requests'.
	if got, want := models.ClientInfoOf(held[0]), (models.ClientInfo{IP: "198.51.100.7", UserAgent: "first/1.0"}); got != want {
		t.Errorf("first request read late: got %+v, want %+v", got, want)
	}
	// The second came through the trusted proxy: the address it forwarded.
	if got, want := models.ClientInfoOf(held[1]), (models.ClientInfo{IP: "203.0.113.9", UserAgent: "second/1.0"}); got != want {
		t.Errorf("second request: got %+v, want %+v", got, want)
	}
	if n := resolved.Load(); n != 2 {
		t.Errorf("resolved %d times in all, want 2 (each request that was asked, once)", n)
	}
}

// TestPanicLogCarriesRequestID: the panic's log line names the request ID
// the response carries.
func TestPanicLogCarriesRequestID(t *testing.T) {
	ts := newTestServer(t)
	r := ts.app.router()
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != http.StatusInternalServerError || id == "" {
		t.Fatalf("got %d with X-Request-Id %q, want 500 with an ID", rec.Code, id)
	}
	for _, l := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(l, "panic serving request") {
			if !strings.Contains(l, "request_id="+id) {
				t.Errorf("panic line without request_id=%s: %s", id, l)
			}
			return
		}
	}
	t.Fatalf("no panic line in the log:\n%s", ts.logs.String())
}
