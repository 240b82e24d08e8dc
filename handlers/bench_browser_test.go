package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The signed-in page and the login page as a browser asks for them (with
// its Accept-Language): the comparison of issue 28's budget.
func BenchmarkHomeSignedInBrowser(b *testing.B) {
	ts, cookie := benchSession(b)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9,de;q=0.5")
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, "Hi alice!")
}

func BenchmarkLoginPageBrowser(b *testing.B) {
	ts := newBenchServer(b)
	req := httptest.NewRequest(http.MethodGet, "/accounts/login/", nil)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9,de;q=0.5")
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, `id="login-form"`)
}
