package handlers

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/websession"
	"gatehouse/models"
)

// Fuzz targets for everything a client controls on the POST endpoints and
// the session cookie, sent through the whole middleware stack. Seeds live in
// testdata/fuzz/<name>/ (plain `go test` runs them); run one for longer with
// `go test ./handlers/ -run '^$' -fuzz FuzzLoginForm -fuzztime 1m`.

const fuzzPassword = "fuzzing is fun 123"

// newFuzzServer is a test server with every throttle off (so the fuzzer
// reaches the forms instead of a 429) and one user, "fuzzer".
func newFuzzServer(f *testing.F) *testServer {
	f.Helper()
	ts := newTestServer(f, func(c *Config) {
		off := models.Limit{Max: -1}
		c.LoginLimitPerUserIP, c.LoginLimitPerIP = off, off
		c.PasswordResetLimitPerEmail, c.PasswordResetLimitPerIP = off, off
		c.SignupLimitPerIP, c.SignupCheckLimitPerIP = off, off
	})
	if _, err := ts.users.Create(context.Background(), models.NewUser{Username: "fuzzer", Password: fuzzPassword}); err != nil {
		f.Fatal(err)
	}
	return ts
}

// fuzzDo sends one request without a cookie jar and fails on a 5xx or a
// response that is not a page. It returns the status and body, or ok=false
// when the client itself refused the input (say, a header with a newline).
func fuzzDo(t *testing.T, ts *testServer, method, path, contentType, body string, headers map[string]string) (int, string, bool) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, "", false
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid") {
			return 0, "", false // net/http refused to send it
		}
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if res.StatusCode >= 500 {
		t.Fatalf("%s %s with body %q: got status %d, want < 500; body: %.500s", method, path, body, res.StatusCode, b)
	}
	if strings.Contains(string(b), "goroutine ") || strings.Contains(string(b), "panic") {
		t.Fatalf("response shows a stack trace: %.500s", b)
	}
	return res.StatusCode, string(b), true
}

func FuzzLoginForm(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("username=fuzzer&password=fuzzing+is+fun+123", "application/x-www-form-urlencoded", false)
	f.Add("username=fuzzer&password=wrong", "application/x-www-form-urlencoded", true)
	f.Add("username=%zz&password=%", "application/x-www-form-urlencoded", false)
	f.Add("username=a%00b&password=x&next=//evil.example", "application/x-www-form-urlencoded", true)
	f.Add("", "", false)
	f.Add("username=fuzzer", "multipart/form-data; boundary=x", false)
	f.Add("username=fuzzer&password=fuzzing+is+fun+123", "text/plain;;", true)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		headers := map[string]string{}
		if htmx {
			headers["HX-Request"] = "true"
		}
		status, page, ok := fuzzDo(t, ts, http.MethodPost, "/accounts/login/", contentType, body, headers)
		if !ok {
			return
		}
		switch status {
		case http.StatusSeeOther, http.StatusOK, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusBadRequest:
		default:
			t.Fatalf("got status %d, want 200, 303, 400, 413 or 422", status)
		}
		if status == http.StatusUnprocessableEntity && !strings.Contains(page, `id="login-form"`) {
			t.Fatalf("422 without the login form: %.500s", page)
		}
	})
}

func FuzzLogoutForm(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("", "application/x-www-form-urlencoded", "", false)
	f.Add("a=%zz", "application/x-www-form-urlencoded", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true)
	f.Add("x=1&x=2", "", "not-a-token", false)
	f.Fuzz(func(t *testing.T, body, contentType, cookie string, htmx bool) {
		headers := map[string]string{}
		if htmx {
			headers["HX-Request"] = "true"
		}
		if cookie != "" {
			headers["Cookie"] = websession.SessionCookieName + "=" + cookie
		}
		status, _, ok := fuzzDo(t, ts, http.MethodPost, "/accounts/logout/", contentType, body, headers)
		if !ok {
			return
		}
		switch status {
		case http.StatusSeeOther, http.StatusOK, http.StatusRequestEntityTooLarge, http.StatusBadRequest:
		default:
			t.Fatalf("got status %d, want 200, 303, 400 or 413", status)
		}
	})
}

// FuzzSessionCookie sends arbitrary session cookies to a page: the store
// must treat anything but a live token as no session.
func FuzzSessionCookie(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Add("\"quoted\"")
	f.Add("a;b=c")
	f.Add(strings.Repeat("x", 5000))
	f.Add("%00%ff")
	f.Fuzz(func(t *testing.T, cookie string) {
		status, page, ok := fuzzDo(t, ts, http.MethodGet, "/", "", "", map[string]string{"Cookie": websession.SessionCookieName + "=" + cookie})
		if !ok {
			return
		}
		if status != http.StatusOK {
			t.Fatalf("got status %d, want 200", status)
		}
		if !strings.Contains(page, "Welcome to Gatehouse") {
			t.Fatalf("cookie %q was taken for a signed-in session", cookie)
		}
	})
}
