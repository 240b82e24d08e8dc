package handlers

import (
	"net/http"
	"net/url"
	"testing"
)

// TestTrailingSlashRedirect: a path missing (or with an extra) trailing
// slash is redirected to the route on this site, whatever X-Forwarded-Prefix
// says, and the redirect carries the same security headers as any page.
func TestTrailingSlashRedirect(t *testing.T) {
	ts := newTestServer(t)
	prefixes := []string{"", "/", "//", "//evil.example", "https://evil.example", "/\\evil.example", "%2F%2Fevil.example", "/prefix"}
	cases := []struct {
		method, path string
		wantStatus   int
		wantLoc      string
	}{
		{"GET", "/admin/users", 301, "/admin/users/"},
		{"GET", "/accounts/login?next=/admin/", 301, "/accounts/login/?next=/admin/"},
		{"GET", "/accounts/reset/some-token", 301, "/accounts/reset/some-token/"},
		{"POST", "/accounts/login", 308, "/accounts/login/"},
		{"GET", "/healthz/", 301, "/healthz"},
		{"GET", "//admin/users", 404, ""},
		{"GET", "//evil.example/admin/users", 404, ""},
		{"GET", "/no/such/page", 404, ""},
		{"DELETE", "/admin/users", 404, ""},
		{"GET", "/accounts/reset/", 404, ""},
		{"HEAD", "/admin/users", 404, ""}, // no HEAD route, as before
	}
	for _, tc := range cases {
		for _, prefix := range prefixes {
			t.Run(tc.method+" "+tc.path+" prefix "+prefix, func(t *testing.T) {
				c := ts.client(t)
				req := c.newRequest(tc.method, ts.URL+tc.path, nil)
				if prefix != "" {
					req.Header.Set("X-Forwarded-Prefix", prefix)
				}
				res := c.do(req)
				wantStatus(t, res, tc.wantStatus)
				loc := res.Header.Get("Location")
				if loc != tc.wantLoc {
					t.Errorf("got Location %q, want %q", loc, tc.wantLoc)
				}
				if u, err := url.Parse(loc); err != nil || u.Host != "" || u.Scheme != "" {
					t.Errorf("Location %q leaves the site", loc)
				}
				for h, want := range map[string]string{
					"Content-Security-Policy": contentSecurityPolicy,
					"X-Content-Type-Options":  "nosniff",
					"X-Frame-Options":         "DENY",
					"Referrer-Policy":         "same-origin",
				} {
					if got := res.Header.Get(h); got != want {
						t.Errorf("got %s %q, want %q", h, got, want)
					}
				}
			})
		}
	}
	// The route itself still answers as before.
	res := ts.client(t).get("/admin/users/")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /admin/users/: got %d, want 303 to the login page", res.StatusCode)
	}
}
