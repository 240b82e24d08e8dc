package handlers

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestRequestIDs: every response carries X-Request-ID and the request's log
// line carries the same ID and the route pattern (never the raw path, which
// can hold a reset token). A proxy's short plain ID is reused; anything
// else is replaced by a fresh random one.
func TestRequestIDs(t *testing.T) {
	ts := newTestServer(t)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	const token = "secret-reset-token-value"
	cases := []struct {
		name, path, incoming, want string // want "" means generated
		route                      string
	}{
		{"none", "/accounts/login/", "", "", "/accounts/login/"},
		{"proxy's uuid", "/accounts/login/", "6f1c2a9e-1d3b-4c55-9f0e-0b7f1f3a2d11", "6f1c2a9e-1d3b-4c55-9f0e-0b7f1f3a2d11", "/accounts/login/"},
		{"too long", "/", strings.Repeat("a", 65), "", "/"},
		{"log forging", "/", "x level=ERROR msg=forged", "", "/"},
		{"quotes", "/", `a"b`, "", "/"},
		{"non-ascii", "/", "café", "", "/"},
		{"token path", "/accounts/reset/" + token + "/", "", "", "/accounts/reset/:token/"},
		{"no route", "/no/such/page", "", "", "(no route)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.client(t)
			req := c.newRequest(http.MethodGet, tc.path, nil)
			if tc.incoming != "" {
				req.Header.Set("X-Request-ID", tc.incoming)
			}
			res := c.do(req)
			id := res.Header.Get("X-Request-ID")
			if tc.want != "" && id != tc.want {
				t.Fatalf("got X-Request-ID %q, want the proxy's %q", id, tc.want)
			}
			if tc.want == "" && !generated.MatchString(id) {
				t.Fatalf("got X-Request-ID %q, want a fresh 32-hex-digit ID", id)
			}
			var line string
			for _, l := range strings.Split(ts.logs.String(), "\n") {
				if strings.Contains(l, "msg=request request_id="+id+" ") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no request log line with request_id=%s:\n%s", id, ts.logs.String())
			}
			if !strings.Contains(line, "route="+tc.route+" ") && !strings.Contains(line, `route="`+tc.route+`" `) {
				t.Errorf("got log line %q, want route %s", line, tc.route)
			}
		})
	}
	if strings.Contains(ts.logs.String(), token) {
		t.Fatal("a reset token from a path was logged")
	}
	// Two requests never share a generated ID.
	a := ts.client(t).get("/").Header.Get("X-Request-ID")
	b := ts.client(t).get("/").Header.Get("X-Request-ID")
	if a == b {
		t.Fatalf("two requests got the same ID %q", a)
	}
}

// TestNewRequestIDsAreUnique: IDs made by a parallel burst are all
// distinct and 32 hex digits (a process prefix and a counter).
func TestNewRequestIDsAreUnique(t *testing.T) {
	const n, workers = 2000, 8
	ids := make(chan string, n*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n {
				ids <- newRequestID()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for id := range ids {
		if seen[id] || !hex32.MatchString(id) {
			t.Fatalf("request ID %q repeated or malformed", id)
		}
		seen[id] = true
	}
}
