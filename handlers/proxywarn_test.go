package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestUntrustedForwardingWarnsOnce: requests arriving with X-Forwarded-For
// while TRUSTED_PROXIES is unset produce one warning per process, not one
// per request; with proxies trusted, none.
func TestUntrustedForwardingWarnsOnce(t *testing.T) {
	const msg = "TRUSTED_PROXIES is unset"
	ts := newTestServer(t)
	wantStatus(t, ts.client(t).get("/"), http.StatusOK)
	if strings.Contains(ts.logs.String(), msg) {
		t.Fatal("warned without X-Forwarded-For")
	}
	for range 3 {
		wantStatus(t, ts.clientFrom(t, "203.0.113.9", "test").get("/"), http.StatusOK)
	}
	if got := strings.Count(ts.logs.String(), msg); got != 1 {
		t.Fatalf("got %d warnings, want 1:\n%s", got, ts.logs.String())
	}
	trusted := newTestServer(t, trustLocalProxy)
	wantStatus(t, trusted.clientFrom(t, "203.0.113.9", "test").get("/"), http.StatusOK)
	if strings.Contains(trusted.logs.String(), msg) {
		t.Fatal("warned although the proxy is trusted")
	}
}
