package handlers

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
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
	r.GET("/ctx", mw.requestContext, func(c *gin.Context) {
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
