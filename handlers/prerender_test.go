package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/components"
)

// The plain login page comes from prerendered bytes; every other variant
// (a flash to show, a ?next= to carry) is rendered per request, and the
// prerendered bytes are exactly what rendering gives.
func TestLoginPagePrerendered(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.LogoutRedirectURL = "/accounts/login/" })
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)

	plain := c.get("/accounts/login/")
	wantStatus(t, plain, http.StatusOK)
	var want bytes.Buffer
	if err := ts.h.loginView(components.Page{}, "").Render(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	if plain.body != want.String() {
		t.Fatalf("plain login page differs from a fresh render:\n%s", plain.body)
	}
	if again := c.get("/accounts/login/"); again.body != plain.body {
		t.Fatal("second plain login page differs from the first")
	}
	for _, h := range []string{"Content-Security-Policy", "Cache-Control", "Vary", "X-Frame-Options"} {
		if plain.Header.Get(h) == "" {
			t.Errorf("prerendered page lacks %s", h)
		}
	}
	if got := plain.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if c.sessionCookie() != "" {
		t.Error("a visitor got a session cookie")
	}

	// ?next= is carried.
	withNext := c.get("/accounts/login/?next=" + url.QueryEscape("/accounts/profile/"))
	if v, _ := withNext.doc(t).Find("#login-form input[name=next]").Attr("value"); v != "/accounts/profile/" {
		t.Errorf("next: got %q", v)
	}
	if withNext.body == plain.body {
		t.Error("page with ?next= is the plain page")
	}

	// A flash is shown once, then the plain page again.
	c.login("alice", "correct-horse-battery")
	res := c.postForm("/accounts/logout/", nil)
	wantRedirect(t, res, "/accounts/login/")
	flashed := c.get("/accounts/login/")
	if msg := flashed.text(t, "[data-testid=flash]"); !strings.Contains(msg, "signed out") {
		t.Errorf("flash after logout: got %q", msg)
	}
	if after := c.get("/accounts/login/"); after.body != plain.body {
		t.Errorf("after the flash was shown, the page is not the plain one:\n%s", after.body)
	}
}
