package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

// ageReauth makes every session of userID look confirmed long ago, as if
// REAUTH_TIMEOUT had passed since sign-in.
func (ts *testServer) ageReauth(t *testing.T, userID uint) {
	t.Helper()
	err := ts.db.Model(&models.Session{}).Where("user_id = ?", userID).
		Update("reauth_at", time.Now().UTC().Add(-2*auth.DefaultReauthTimeout)).Error
	if err != nil {
		t.Fatal(err)
	}
}

func reauthTo(next string) string { return "/accounts/reauthenticate/?next=" + url.QueryEscape(next) }

// TestSudoGuardsPasswordChange: a recent sign-in may change the password;
// once REAUTH_TIMEOUT has passed the page and the POST go to the
// re-authentication page, whose success comes back to the page.
func TestSudoGuardsPasswordChange(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "sudoer", "first long password")
	wantStatus(t, c.get("/accounts/password_change/"), http.StatusOK)

	ts.ageReauth(t, u.ID)
	t.Run("GET goes to reauthenticate", func(t *testing.T) {
		wantRedirect(t, c.get("/accounts/password_change/"), reauthTo("/accounts/password_change/"))
		res := c.htmxGet("/accounts/password_change/")
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("HX-Redirect"); got != reauthTo("/accounts/password_change/") {
			t.Fatalf("htmx: got HX-Redirect %q, want %q", got, reauthTo("/accounts/password_change/"))
		}
	})
	change := url.Values{"old_password": {"first long password"}, "new_password1": {"second long password"}, "new_password2": {"second long password"}}
	t.Run("POST goes to reauthenticate and changes nothing", func(t *testing.T) {
		req := c.newRequest(http.MethodPost, "/accounts/password_change/", strings.NewReader(change.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Referer", ts.URL+"/accounts/password_change/?from=profile")
		wantRedirect(t, c.do(req), reauthTo("/accounts/password_change/?from=profile"))
		// A Referer from another site is not followed: back to the form.
		req = c.newRequest(http.MethodPost, "/accounts/password_change/", strings.NewReader(change.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Referer", "https://evil.example/accounts/x/")
		wantRedirect(t, c.do(req), reauthTo("/accounts/password_change/"))
		wantRedirect(t, c.postForm("/accounts/password_change/", change), reauthTo("/accounts/password_change/"))
		if _, err := ts.app.core.Accounts.Login(t.Context(), auth.LoginInput{Username: "sudoer", Password: "first long password", IP: "192.0.2.9"}); err != nil {
			t.Fatalf("the password changed without a recent confirmation: %v", err)
		}
	})
	t.Run("wrong password is refused and recorded", func(t *testing.T) {
		res := c.postForm("/accounts/reauthenticate/", url.Values{"password": {"not it"}, "next": {"/accounts/password_change/"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if !strings.Contains(res.body, reauthWrongPassword) {
			t.Fatalf("want the wrong-password message; body: %.1000s", res.body)
		}
		res = c.htmxPost("/accounts/reauthenticate/", url.Values{"password": {"not it"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if res.doc(t).Find("form#reauth-form").Length() != 1 || strings.Contains(res.body, "<html") {
			t.Fatalf("htmx: want the form fragment alone; body: %.500s", res.body)
		}
		if e := ts.lastEvent(t, u.ID); e.Kind != models.EventReauthFailed {
			t.Fatalf("got last event %q, want %q", e.Kind, models.EventReauthFailed)
		}
		wantRedirect(t, c.get("/accounts/password_change/"), reauthTo("/accounts/password_change/"))
	})
	t.Run("right password comes back and rotates the session", func(t *testing.T) {
		page := c.get(reauthTo("/accounts/password_change/"))
		wantStatus(t, page, http.StatusOK)
		if got, _ := page.doc(t).Find(`#reauth-form input[name=next]`).Attr("value"); got != "/accounts/password_change/" {
			t.Fatalf("got next %q, want /accounts/password_change/", got)
		}
		before := c.sessionCookie()
		wantRedirect(t, c.postForm("/accounts/reauthenticate/", url.Values{"password": {"first long password"}, "next": {"/accounts/password_change/"}}),
			"/accounts/password_change/")
		if c.sessionCookie() == before || c.sessionCookie() == "" {
			t.Fatal("the session token did not rotate on re-authentication")
		}
		if e := ts.lastEvent(t, u.ID); e.Kind != models.EventReauthenticated {
			t.Fatalf("got last event %q, want %q", e.Kind, models.EventReauthenticated)
		}
		wantStatus(t, c.get("/accounts/password_change/"), http.StatusOK)
		wantRedirect(t, c.postForm("/accounts/password_change/", change), passwordChangedURL)
	})
	t.Run("htmx success answers HX-Redirect; unsafe next goes to the profile", func(t *testing.T) {
		ts.ageReauth(t, u.ID)
		res := c.htmxPost("/accounts/reauthenticate/", url.Values{"password": {"second long password"}, "next": {"//evil.example/"}})
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("HX-Redirect"); got != "/accounts/profile/" {
			t.Fatalf("got HX-Redirect %q, want /accounts/profile/", got)
		}
	})
}

// TestReauthThrottled: re-authentication shares the login limit of
// (username, address), so a stolen session cannot guess the password.
func TestReauthThrottled(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.LoginLimitPerUserIP = models.Limit{Max: 2, Window: time.Hour} })
	c, _ := ts.signUpAndLogin(t, "guessed", "the right long password")
	for range 2 {
		wantStatus(t, c.postForm("/accounts/reauthenticate/", url.Values{"password": {"guess"}}), http.StatusUnprocessableEntity)
	}
	res := c.postForm("/accounts/reauthenticate/", url.Values{"password": {"the right long password"}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestReauthNeedsLogin: the page is for signed-in users only.
func TestReauthNeedsLogin(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	wantRedirect(t, c.get("/accounts/reauthenticate/"), "/accounts/login/?next="+url.QueryEscape("/accounts/reauthenticate/"))
}

// TestSudoGuardsPrivilegeChanges: a staff edit that changes is_staff or
// is_superuser needs a recent confirmation; other edits do not.
func TestSudoGuardsPrivilegeChanges(t *testing.T) {
	ts := newTestServer(t)
	admin, a := ts.createAdmin(t, "root", true, true)
	target := ts.createUser(t, "target", "target@example.com", "target's long password")
	ts.ageReauth(t, a.ID)
	path := adminUserURL(target.ID)
	res := admin.postForm(path, userEdit("new@example.com", map[string]bool{"is_active": true}))
	wantRedirect(t, res, path)
	if u := reload(t, ts, target.ID); u.Email != "new@example.com" {
		t.Fatalf("e-mail edit without privileges: got %q, want new@example.com", u.Email)
	}
	res = admin.postForm(path, userEdit("new@example.com", map[string]bool{"is_active": true, "is_staff": true}))
	wantRedirect(t, res, reauthTo(path))
	if u := reload(t, ts, target.ID); u.IsStaff {
		t.Fatal("is_staff was granted without a recent password confirmation")
	}
	res = admin.htmxPost(path, userEdit("new@example.com", map[string]bool{"is_active": true, "is_staff": true}))
	if got := res.Header.Get("HX-Redirect"); got != reauthTo(path) {
		t.Fatalf("htmx: got HX-Redirect %q, want %q", got, reauthTo(path))
	}
	wantRedirect(t, admin.postForm("/accounts/reauthenticate/", url.Values{"password": {adminPW}, "next": {path}}), path)
	wantRedirect(t, admin.postForm(path, userEdit("new@example.com", map[string]bool{"is_active": true, "is_staff": true})), path)
	if u := reload(t, ts, target.ID); !u.IsStaff {
		t.Fatal("is_staff not granted after the confirmation")
	}
}
