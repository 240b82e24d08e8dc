package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

// loginLimits is a newTestServer option setting small login limits.
func loginLimits(perUserIP, perIP int) func(*Config) {
	return func(c *Config) {
		trustLocalProxy(c)
		c.LoginLimitPerUserIP = models.Limit{Max: perUserIP, Window: 15 * time.Minute}
		c.LoginLimitPerIP = models.Limit{Max: perIP, Window: 15 * time.Minute}
	}
}

func loginValues(username, password string) url.Values {
	return url.Values{"username": {username}, "password": {password}}
}

// wantThrottled fails unless res is a 429 with a Retry-After in seconds and
// the throttle message in the form's error area; it returns Retry-After.
func wantThrottled(t *testing.T, res *response) int {
	t.Helper()
	wantStatus(t, res, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("got Retry-After %q, want a positive number of seconds", res.Header.Get("Retry-After"))
	}
	msg := res.text(t, "#login-errors")
	if !strings.Contains(msg, "Too many failed login attempts") || !strings.Contains(msg, "wait") {
		t.Fatalf("got form error %q, want the throttle message", msg)
	}
	if res.doc(t).Find("#login-errors").AttrOr("role", "") != "alert" {
		t.Fatal("throttle message is not role=alert")
	}
	return secs
}

func TestLoginThrottlePerUserAndIP(t *testing.T) {
	ts := newTestServer(t, loginLimits(3, 1000))
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	attacker := ts.clientFrom(t, "203.0.113.9", "guesser/1.0")

	for i := range 3 {
		res := attacker.postForm("/accounts/login/", loginValues("alice", "guess"+strconv.Itoa(i)))
		wantStatus(t, res, http.StatusUnprocessableEntity)
	}
	// Blocked now, even with the right password, and even in another case.
	for _, name := range []string{"alice", "ALICE", " Alice "} {
		res := attacker.postForm("/accounts/login/", loginValues(name, "correct horse battery"))
		secs := wantThrottled(t, res)
		if secs > 60 {
			t.Fatalf("first block: got Retry-After %d, want at most 60", secs)
		}
		if res.doc(t).Find("html").Length() == 0 || res.text(t, "h1") != "Sign in" {
			t.Fatal("plain request: want the full login page")
		}
		if got := res.doc(t).Find("#id_username").AttrOr("value", ""); got != name {
			t.Fatalf("got username kept as %q, want %q", got, name)
		}
	}
	res := attacker.htmxPost("/accounts/login/", loginValues("alice", "correct horse battery"))
	wantThrottled(t, res)
	if res.doc(t).Find("form#login-form").Length() != 1 || strings.Contains(res.body, "<html") {
		t.Fatalf("htmx request: want the login form fragment alone; body: %.500s", res.body)
	}

	// The owner, from their own address, is not locked out.
	owner := ts.clientFrom(t, "198.51.100.7", "owner-browser")
	owner.login("alice", "correct horse battery")

	// Another account from the attacker's address is not blocked either.
	ts.createUser(t, "bob", "bob@example.com", "another good password")
	ts.clientFrom(t, "203.0.113.9", "guesser/1.0").login("bob", "another good password")
}

func TestLoginThrottlePerIP(t *testing.T) {
	ts := newTestServer(t, loginLimits(1000, 4))
	ts.createUser(t, "carol", "carol@example.com", "correct horse battery")
	sprayer := ts.clientFrom(t, "203.0.113.50", "sprayer")
	for i := range 4 {
		wantStatus(t, sprayer.postForm("/accounts/login/", loginValues("user"+strconv.Itoa(i), "password")), http.StatusUnprocessableEntity)
	}
	wantThrottled(t, sprayer.postForm("/accounts/login/", loginValues("carol", "correct horse battery")))
	ts.clientFrom(t, "203.0.113.51", "elsewhere").login("carol", "correct horse battery")

	// IPv6 clients are keyed by their /64: moving within it does not help.
	v6 := ts.clientFrom(t, "2001:db8:1:2::1", "v6")
	for i := range 4 {
		wantStatus(t, v6.postForm("/accounts/login/", loginValues("v6user"+strconv.Itoa(i), "password")), http.StatusUnprocessableEntity)
	}
	wantThrottled(t, ts.clientFrom(t, "2001:db8:1:2:ffff::99", "v6").postForm("/accounts/login/", loginValues("carol", "x")))
}

func TestLoginSuccessResetsUserIPCounter(t *testing.T) {
	ts := newTestServer(t, loginLimits(3, 1000))
	ts.createUser(t, "dave", "dave@example.com", "correct horse battery")
	c := ts.clientFrom(t, "192.0.2.10", "typo-prone")
	for range 2 {
		wantStatus(t, c.postForm("/accounts/login/", loginValues("dave", "tpyo")), http.StatusUnprocessableEntity)
	}
	c.login("dave", "correct horse battery")
	wantRedirect(t, c.postForm("/accounts/logout/", nil), "/")
	for range 2 {
		wantStatus(t, c.postForm("/accounts/login/", loginValues("dave", "tpyo")), http.StatusUnprocessableEntity)
	}
	c.login("dave", "correct horse battery")
}

// TestLoginSuccessDoesNotResetIPCounter: an attacker who owns an account
// must not be able to clear their address's counter by logging in to it.
func TestLoginSuccessDoesNotResetIPCounter(t *testing.T) {
	ts := newTestServer(t, loginLimits(1000, 3))
	ts.createUser(t, "erin", "erin@example.com", "correct horse battery")
	ts.createUser(t, "mallory", "mallory@example.com", "mallorys own password")
	m := ts.clientFrom(t, "192.0.2.66", "mallory")
	for range 2 {
		wantStatus(t, m.postForm("/accounts/login/", loginValues("erin", "guess")), http.StatusUnprocessableEntity)
	}
	m.login("mallory", "mallorys own password")
	wantRedirect(t, m.postForm("/accounts/logout/", nil), "/")
	wantStatus(t, m.postForm("/accounts/login/", loginValues("erin", "guess")), http.StatusUnprocessableEntity)
	wantThrottled(t, m.postForm("/accounts/login/", loginValues("erin", "guess")))
}

// TestLoginThrottleSharedAcrossInstances: two app instances over one
// database see one set of counters.
func TestLoginThrottleSharedAcrossInstances(t *testing.T) {
	ts := newTestServer(t, loginLimits(2, 1000))
	ts.createUser(t, "frank", "frank@example.com", "correct horse battery")
	otherApp := NewApp(ts.h.log, ts.db, ts.users.Hasher(), ts.h.cfg)
	other := &testServer{app: otherApp, h: otherApp.h, db: ts.db}
	other.Server = httptest.NewServer(other.app.Routes())
	t.Cleanup(other.Server.Close)
	a := ts.clientFrom(t, "192.0.2.1", "x")
	b := other.clientFrom(t, "192.0.2.1", "x")
	wantStatus(t, a.postForm("/accounts/login/", loginValues("frank", "nope")), http.StatusUnprocessableEntity)
	wantStatus(t, b.postForm("/accounts/login/", loginValues("frank", "nope")), http.StatusUnprocessableEntity)
	wantThrottled(t, a.postForm("/accounts/login/", loginValues("frank", "correct horse battery")))
}

func TestLoginThrottleEvent(t *testing.T) {
	ts := newTestServer(t, loginLimits(2, 1000))
	grace := ts.createUser(t, "grace", "grace@example.com", "grace's long password")
	c := ts.clientFrom(t, "192.0.2.77", "ua-throttle-test")
	for range 2 {
		wantStatus(t, c.postForm("/accounts/login/", loginValues("grace", "nope")), http.StatusUnprocessableEntity)
	}
	for range 3 {
		wantThrottled(t, c.postForm("/accounts/login/", loginValues("grace", "nope")))
	}
	var evs []models.AuthEvent
	if err := ts.db.Where("kind = ?", models.EventLoginThrottled).Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d login_throttled events, want 1 (when the block started, not per refused attempt)", len(evs))
	}
	e := evs[0]
	if e.Username != "grace" || e.UserID == nil || *e.UserID != grace.ID || e.IP != "192.0.2.77" || e.UserAgent != "ua-throttle-test" ||
		!strings.Contains(models.EventDetail(context.Background(), &e), auth.ScopeLoginUserIP) {
		t.Fatalf("got event %+v, want grace's account, IP 192.0.2.77, the user agent and the scope", e)
	}
}

func TestLoginThrottleOff(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.LoginLimitPerUserIP = models.Limit{Max: -1}
		c.LoginLimitPerIP = models.Limit{Max: -1}
	})
	c := ts.client(t)
	for range 8 {
		wantStatus(t, c.postForm("/accounts/login/", loginValues("heidi", "nope")), http.StatusUnprocessableEntity)
	}
}

func TestLoginThrottleDefaults(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy)
	if got, want := ts.h.cfg.LoginLimitPerUserIP.String(), "5/15m0s"; got != want {
		t.Fatalf("got per-user+IP default %s, want %s", got, want)
	}
	c := ts.clientFrom(t, "192.0.2.5", "x")
	for range 5 {
		wantStatus(t, c.postForm("/accounts/login/", loginValues("ivan", "nope")), http.StatusUnprocessableEntity)
	}
	if secs := wantThrottled(t, c.postForm("/accounts/login/", loginValues("ivan", "nope"))); secs != 60 {
		t.Fatalf("got Retry-After %d, want 60 (the default first block)", secs)
	}
}

func TestHumanWait(t *testing.T) {
	tests := map[time.Duration]string{
		0:                       "1 second",
		time.Second:             "1 second",
		1500 * time.Millisecond: "2 seconds",
		time.Minute:             "1 minute",
		61 * time.Second:        "2 minutes",
		time.Hour:               "60 minutes",
	}
	for d, want := range tests {
		if got := humanWait(context.Background(), d); got != want {
			t.Errorf("humanWait(%v): got %q, want %q", d, got, want)
		}
	}
}
