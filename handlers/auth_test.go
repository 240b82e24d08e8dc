package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/passhash"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

func TestLoginSuccessRedirectsWithFlashAndRecordsLastLogin(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)

	res := c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}})
	wantRedirect(t, res, "/")

	home := c.get("/")
	wantStatus(t, home, http.StatusOK)
	if got, want := home.text(t, "[data-testid=greeting]"), "Hi alice!"; got != want {
		t.Errorf("greeting: got %q, want %q", got, want)
	}
	if got, want := home.text(t, "[data-testid=flash]"), "Welcome back, alice!"; !strings.Contains(got, want) {
		t.Errorf("flash: got %q, want it to contain %q", got, want)
	}
	if n := home.doc(t).Find("form[method=post][action='/accounts/logout/']").Length(); n == 0 {
		t.Errorf("home page: got no POST logout form, want one")
	}
	// The flash is shown once.
	if again := c.get("/"); again.doc(t).Find("[data-testid=flash]").Length() != 0 {
		t.Errorf("flash shown twice")
	}
	got, err := ts.users.ByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastLogin == nil {
		t.Errorf("last_login: got nil, want it set")
	}
}

func TestLoginUsernameIsCaseInsensitive(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "Alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)
	c.login("aLICE", "correct-horse-battery")
	if got := c.get("/").text(t, "[data-testid=greeting]"); got != "Hi Alice!" {
		t.Errorf("greeting: got %q, want %q", got, "Hi Alice!")
	}
}

func TestLoginFailuresShowOneGenericError(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	inactive := ts.createUser(t, "bob", "bob@example.com", "correct-horse-battery")
	if err := ts.db.Model(inactive).Update("is_active", false).Error; err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, username, password string
	}{
		{"wrong password", "alice", "wrong-password"},
		{"unknown user", "nobody", "correct-horse-battery"},
		// An inactive account with a wrong password; with the right one it
		// gets the inactive page (TestInactiveAccountIsToldAfterTheRightPassword).
		{"inactive user", "bob", "wrong-password"},
	}
	var bodies []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.client(t)
			v := url.Values{"username": {tc.username}, "password": {tc.password}, "next": {"/accounts/profile/"}}
			res := c.postForm("/accounts/login/", v)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			doc := res.doc(t)
			if got := strings.TrimSpace(doc.Find("#login-errors").Text()); got != genericLoginError {
				t.Errorf("error: got %q, want %q", got, genericLoginError)
			}
			if got, _ := doc.Find("#login-errors").Attr("role"); got != "alert" {
				t.Errorf("error role: got %q, want alert", got)
			}
			if got, _ := doc.Find("input[name=username]").Attr("value"); got != tc.username {
				t.Errorf("username kept: got %q, want %q", got, tc.username)
			}
			if _, has := doc.Find("input[name=password]").Attr("value"); has {
				t.Errorf("password field: got a value attribute, want none (never echo passwords)")
			}
			if got, _ := doc.Find("input[name=next]").Attr("value"); got != "/accounts/profile/" {
				t.Errorf("next kept: got %q, want %q", got, "/accounts/profile/")
			}
			if c.cookie(websession.SessionCookieName) != "" {
				t.Errorf("failed login: got a session cookie, want none")
			}
			// The error text must be the same for every case.
			bodies = append(bodies, strings.TrimSpace(doc.Find("#login-errors").Text()))
		})
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("error for case %d differs: %q vs %q", i, bodies[i], bodies[0])
		}
	}
}

func TestLoginHTMXSwapsFragmentAndRedirectsWithHXRedirect(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)

	bad := c.htmxPost("/accounts/login/", url.Values{"username": {"alice"}, "password": {"nope-nope-nope"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	if strings.Contains(bad.body, "<html") {
		t.Errorf("htmx failure: got a full page, want the form fragment")
	}
	doc := bad.doc(t)
	if doc.Find("form#login-form").Length() != 1 {
		t.Errorf("htmx failure: got no #login-form fragment")
	}
	if _, ok := doc.Find("#id_password").Attr("autofocus"); !ok {
		t.Errorf("htmx failure: password field should take focus for the retry")
	}

	good := c.htmxPost("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}, "next": {"/accounts/profile/"}})
	wantStatus(t, good, http.StatusOK)
	if got := good.Header.Get("HX-Redirect"); got != "/accounts/profile/" {
		t.Errorf("HX-Redirect: got %q, want %q", got, "/accounts/profile/")
	}
	if good.Header.Get("Location") != "" {
		t.Errorf("htmx success: got a Location header, want none (fetch would follow it)")
	}
}

func TestLoginRequiredFields(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	res := c.postForm("/accounts/login/", url.Values{"username": {""}, "password": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	doc := res.doc(t)
	for _, name := range []string{"username", "password"} {
		if got := strings.TrimSpace(doc.Find("#id_" + name + "-msg").Text()); got != "This field is required." {
			t.Errorf("%s: got %q, want required message", name, got)
		}
		if got, _ := doc.Find("#id_" + name).Attr("aria-invalid"); got != "true" {
			t.Errorf("%s aria-invalid: got %q, want true", name, got)
		}
	}
}

func TestSignedInUserIsSentAwayFromLoginPage(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	wantRedirect(t, c.get("/accounts/login/"), "/")
	wantRedirect(t, c.get("/accounts/login/?next=/accounts/profile/"), "/accounts/profile/")
	wantRedirect(t, c.get("/accounts/login/?next=//evil.example/"), "/")
}

func TestRequireLoginRedirectsWithNext(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")

	hx := c.htmxGet("/accounts/profile/")
	wantStatus(t, hx, http.StatusOK)
	if got := hx.Header.Get("HX-Redirect"); got != "/accounts/login/?next=%2Faccounts%2Fprofile%2F" {
		t.Errorf("htmx: got HX-Redirect %q, want the login URL with next", got)
	}

	// Following the redirect, logging in returns to the page.
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	login := c.get("/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	if got, _ := login.doc(t).Find("input[name=next]").Attr("value"); got != "/accounts/profile/" {
		t.Fatalf("login page next: got %q, want /accounts/profile/", got)
	}
	res := c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}, "next": {"/accounts/profile/"}})
	wantRedirect(t, res, "/accounts/profile/")
	prof := c.get("/accounts/profile/")
	wantStatus(t, prof, http.StatusOK)
	for sel, want := range map[string]string{
		"[data-testid=profile-username]": "alice",
		"[data-testid=profile-email]":    "alice@example.com",
	} {
		if got := prof.text(t, sel); got != want {
			t.Errorf("%s: got %q, want %q", sel, got, want)
		}
	}
	if got := prof.text(t, "[data-testid=profile-last-login]"); got == "never" || got == "" {
		t.Errorf("last login: got %q, want a time", got)
	}
}

func TestLoginRedirectSettings(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.LoginURL = "/accounts/login/"
		c.LoginRedirectURL = "/accounts/profile/"
		c.LogoutRedirectURL = "/accounts/login/"
	})
	c, _ := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	_ = c
	c2 := ts.client(t)
	res := c2.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}})
	wantRedirect(t, res, "/accounts/profile/")
	wantRedirect(t, c2.postForm("/accounts/logout/", nil), "/accounts/login/")
}

func TestLogout(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "alice", "correct-horse-battery")

	wantStatus(t, c.get("/accounts/logout/"), http.StatusMethodNotAllowed)
	if got := c.get("/").text(t, "[data-testid=greeting]"); got != "Hi alice!" {
		t.Fatalf("GET logout must not sign out: greeting %q", got)
	}

	res := c.postForm("/accounts/logout/", nil)
	wantRedirect(t, res, "/")
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Errorf("sessions of user after logout: got %d, want 0", n)
	}
	home := c.get("/")
	if got := home.text(t, "[data-testid=greeting]"); got != "Welcome to Gatehouse" {
		t.Errorf("after logout greeting: got %q", got)
	}
	if got := home.text(t, "[data-testid=flash]"); !strings.Contains(got, "You have been signed out.") {
		t.Errorf("logout flash: got %q", got)
	}
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")

	// Logging out again, signed out, is harmless.
	wantRedirect(t, c.postForm("/accounts/logout/", nil), "/")
	wantRedirect(t, ts.client(t).postForm("/accounts/logout/", nil), "/")
}

// A token planted before login (session fixation) must not be the token
// that carries the signed-in session.
func TestLoginRotatesSessionToken(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	victim := ts.client(t)

	// The attacker obtains an anonymous session token: signing in to an
	// account of their own and out again leaves one (carrying the
	// goodbye message).
	ts.createUser(t, "mallory", "mallory@example.com", "mallory's own password")
	attacker := ts.client(t)
	attacker.login("mallory", "mallory's own password")
	attacker.postForm("/accounts/logout/", nil)
	planted := attacker.cookie(websession.SessionCookieName)
	if planted == "" {
		t.Fatal("setup: attacker got no anonymous session")
	}
	victim.setCookie(websession.SessionCookieName, planted)
	victim.login("alice", "correct-horse-battery")
	after := victim.cookie(websession.SessionCookieName)
	if after == planted || after == "" {
		t.Fatalf("session token after login: got %q, want a new token", after)
	}
	// The planted token does not give the attacker the victim's session.
	if got := attacker.get("/").text(t, "[data-testid=greeting]"); got != "Welcome to Gatehouse" {
		t.Errorf("attacker with planted token: got greeting %q, want anonymous", got)
	}
	// Nor does the victim's pre-login token, replayed.
	replay := ts.client(t)
	replay.setCookie(websession.SessionCookieName, planted)
	if got := replay.get("/accounts/profile/"); got.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed pre-login token: got status %d, want 303 to login", got.StatusCode)
	}
}

func TestSessionTokenUselessAfterLogout(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	token := c.cookie(websession.SessionCookieName)
	c.postForm("/accounts/logout/", nil)
	id, _ := models.SessionIDFromToken(token)
	var n int64
	if err := ts.db.Model(&models.Session{}).Where("id = ?", id).Count(&n).Error; err != nil || n != 0 {
		t.Errorf("session row after logout: got %d (err %v), want deleted", n, err)
	}

	replay := ts.client(t)
	replay.setCookie(websession.SessionCookieName, token)
	wantRedirect(t, replay.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
}

func TestSessionTableStoresOnlyTokenHash(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	token := c.cookie(websession.SessionCookieName)
	var rows []models.Session
	if err := ts.db.Where("user_id = ?", u.ID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("sessions: got %d, want 1", len(rows))
	}
	want, _ := models.SessionIDFromToken(token)
	if rows[0].ID != want {
		t.Errorf("row id: got %q, want SHA-256 of the cookie", rows[0].ID)
	}
	if strings.Contains(rows[0].ID, token) || strings.Contains(string(rows[0].Data), token) {
		t.Errorf("session row holds the raw token")
	}
	if rows[0].IP != "127.0.0.1" || rows[0].UserAgent == "" {
		t.Errorf("session client info: got ip %q ua %q", rows[0].IP, rows[0].UserAgent)
	}
	if !rows[0].ExpiresAt.After(rows[0].CreatedAt) {
		t.Errorf("expires_at %v not after created_at %v", rows[0].ExpiresAt, rows[0].CreatedAt)
	}
	if logs := ts.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, "correct-horse-battery") {
		t.Errorf("logs contain the session token or the password")
	}
}

func TestInactiveUserIsSignedOutOnNextRequest(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("is_active", false).Error; err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Errorf("sessions of deactivated user: got %d, want 0", n)
	}
}

func TestExpiredSessionIsNotAccepted(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	if err := ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).
		Update("expires_at", "2000-01-01 00:00:00").Error; err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	n, err := ts.app.core.Sessions.DeleteExpired(context.Background())
	if err != nil || n != 1 {
		t.Errorf("DeleteExpired: got %d, %v; want 1, nil", n, err)
	}
}

func TestRehashOnLoginWhenParametersChange(t *testing.T) {
	ts := newTestServer(t)
	old := models.NewUsers(ts.db, passhash.NewHasher(passhash.HashParams{Memory: 512, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, 0))
	u, err := old.Create(context.Background(), models.NewUser{Username: "alice", Email: "a@example.com", Password: "correct-horse-battery"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.Password, "m=512,") {
		t.Fatalf("setup hash: %q", u.Password)
	}
	ts.client(t).login("alice", "correct-horse-battery")
	got, err := ts.users.ByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Password, "m=1024,t=1,p=1$") {
		t.Errorf("hash after login: got %q, want current parameters m=1024", got.Password)
	}
	ts.client(t).login("alice", "correct-horse-battery")
}
