package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/websession"
	"gatehouse/models"
)

// burst posts form to path n times at once from one client address (each
// request its own connection, no cookies) and returns the statuses.
func burst(t *testing.T, ts *testServer, path string, n int, form func(i int) url.Values) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form(i).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "192.0.2.200")
			<-start
			res, err := (&http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}).Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

// countHashes counts the server's password hashes and verifications from
// now on (each takes a slot of the hasher's bound).
func countHashes(ts *testServer) *atomic.Int64 {
	var n atomic.Int64
	ts.users.Hasher().ObserveWait(func(time.Duration) { n.Add(1) })
	return &n
}

// TestRaceLimitsHoldUnderBursts: every limit is taken before the work it
// limits, in the same write that checks it, so a parallel burst gets
// exactly the limit's worth through — one password per username and
// address, passwords sprayed across usernames, sign-ups, reset requests.
func TestRaceLimitsHoldUnderBursts(t *testing.T) {
	t.Run("one username, one address", func(t *testing.T) {
		ts := newTestServer(t, loginLimits(5, 1000))
		victim := ts.createUser(t, "victim", "victim@example.com", "the victim's password")
		hashes := countHashes(ts)
		got := burst(t, ts, "/accounts/login/", 40, func(int) url.Values { return loginValues("victim", "a wrong guess") })
		if got[http.StatusUnprocessableEntity] != 5 || got[http.StatusTooManyRequests] != 35 {
			t.Fatalf("got statuses %v, want 5 passwords checked (422) and 35 refused (429)", got)
		}
		if n := hashes.Load(); n != 5 {
			t.Errorf("got %d password verifications, want 5: the limit is taken before the hash", n)
		}
		if n := countEvents(t, ts, models.EventLoginFailed, "user_id = ?", victim.ID); n != 5 {
			t.Errorf("got %d failed logins recorded, want 5", n)
		}
	})
	t.Run("password spraying from one address", func(t *testing.T) {
		ts := newTestServer(t, loginLimits(5, 10))
		hashes := countHashes(ts)
		got := burst(t, ts, "/accounts/login/", 30, func(i int) url.Values { return loginValues(fmt.Sprintf("user%d", i), "Summer2026!") })
		if got[http.StatusUnprocessableEntity] != 10 || got[http.StatusTooManyRequests] != 20 {
			t.Fatalf("got statuses %v, want 10 checked and 20 refused", got)
		}
		if n := hashes.Load(); n != 10 {
			t.Errorf("got %d password verifications, want 10", n)
		}
	})
	t.Run("sign-ups from one address", func(t *testing.T) {
		ts := newTestServer(t, trustLocalProxy, func(c *Config) {
			c.SignupLimitPerIP = models.Limit{Max: 10, Window: time.Hour}
			c.SignupCheckLimitPerIP = models.Limit{Max: -1}
		})
		hashes := countHashes(ts)
		got := burst(t, ts, "/accounts/signup/", 24, func(i int) url.Values {
			name := fmt.Sprintf("bulk%d", i)
			return signupValues(name, name+"@example.com", "a long enough passphrase", "a long enough passphrase")
		})
		var accounts int64
		ts.db.Model(&models.User{}).Count(&accounts)
		if accounts != 10 || got[http.StatusSeeOther] != 10 || got[http.StatusTooManyRequests] != 14 {
			t.Fatalf("got %d accounts, statuses %v; want 10 made (303) and 14 refused (429)", accounts, got)
		}
		if n := hashes.Load(); n != 10 {
			t.Errorf("got %d passwords hashed, want 10", n)
		}
	})
	t.Run("reset requests from one address", func(t *testing.T) {
		ts := newTestServer(t, trustLocalProxy, func(c *Config) {
			c.PasswordResetLimitPerIP = models.Limit{Max: 20, Window: time.Hour}
			c.PasswordResetLimitPerEmail = models.Limit{Max: -1}
		})
		got := burst(t, ts, "/accounts/password_reset/", 30, func(i int) url.Values {
			return url.Values{"email": {fmt.Sprintf("someone%d@example.com", i)}}
		})
		var jobs int64
		ts.db.Model(&models.OutboxMessage{}).Where("kind = ?", models.KindResetRequest).Count(&jobs)
		if jobs != 20 || got[http.StatusSeeOther] != 20 || got[http.StatusTooManyRequests] != 10 {
			t.Fatalf("got %d reset jobs, statuses %v; want 20 taken and 10 refused", jobs, got)
		}
	})
}

// TestPasswordChangeIsNoOracle: a stolen session cannot guess the current
// password freely. Wrong guesses count against the login limit of that
// account and address and are recorded; while the new passwords are
// invalid the old one is not even checked.
func TestPasswordChangeIsNoOracle(t *testing.T) {
	ts := newTestServer(t, loginLimits(3, 1000))
	c, u := ts.signUpAndLogin(t, "carol", "correct horse battery")
	c.http.Transport = headerTransport{base: http.DefaultTransport, set: map[string]string{"X-Forwarded-For": "192.0.2.7"}}

	// Invalid new passwords: the old one is not checked (no "old password"
	// error, nothing counted, nothing recorded) — however many times.
	for range 5 {
		res := c.postForm("/accounts/password_change/", changeValues("guess", "short", "short"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if got := res.text(t, "#id_old_password-msg"); got != "" {
			t.Fatalf("old password judged while the new ones are invalid: %q", got)
		}
	}
	if n := countEvents(t, ts, models.EventPasswordChangeFailed, "user_id = ?", u.ID); n != 0 {
		t.Fatalf("got %d failures recorded for unchecked guesses, want 0", n)
	}
	for i := range 3 {
		res := c.postForm("/accounts/password_change/", changeValues(fmt.Sprintf("guess %d", i), "a new long password", "a new long password"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if got := res.text(t, "#id_old_password-msg"); !strings.Contains(got, "incorrectly") {
			t.Fatalf("guess %d: got old-password message %q", i, got)
		}
	}
	res := c.postForm("/accounts/password_change/", changeValues("correct horse battery", "a new long password", "a new long password"))
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on the refused change")
	}
	if n := countEvents(t, ts, models.EventPasswordChangeFailed, "user_id = ?", u.ID); n != 3 {
		t.Errorf("got %d failed changes recorded, want 3", n)
	}
	// The guesses count against login from the same address too.
	wantThrottled(t, ts.clientFrom(t, "192.0.2.7", "x").postForm("/accounts/login/", loginValues("carol", "correct horse battery")))
}

// TestNoSessionForVisitors: someone who is not signed in gets no session
// row and no cookie — not for pages, failed logins, or logging out — except
// where a flow needs one (a reset link in use), and that one is short-lived.
func TestNoSessionForVisitors(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "vera", "vera@example.com", "vera's long password")
	c := ts.client(t)
	for _, res := range []*response{
		c.get("/"), c.get("/accounts/login/"), c.get("/accounts/signup/"),
		c.postForm("/accounts/logout/", nil), c.postForm("/accounts/logout/", nil),
		c.postForm("/accounts/login/", loginValues("vera", "wrong")),
		c.postForm("/accounts/password_reset/", url.Values{"email": {"vera@example.com"}}),
		c.get("/accounts/profile/"),
	} {
		if len(res.Cookies()) != 0 {
			t.Errorf("%s %s: got cookies %v, want none", res.Request.Method, res.Request.URL.Path, res.Cookies())
		}
	}
	if n := ts.sessionCount(t, 0); n != 0 {
		t.Fatalf("got %d session rows for a visitor, want 0", n)
	}
	// Logging out when not signed in says nothing of having been signed in.
	if got := c.get("/").doc(t).Find("[data-testid=flash]").Text(); got != "" {
		t.Errorf("flash after an anonymous logout: got %q, want none", got)
	}

	wantRedirect(t, c.get("/accounts/reset/"+ts.issueReset(t, u.ID, time.Hour)+"/"), setPasswordURL)
	var rows []models.Session
	ts.db.Find(&rows)
	if len(rows) != 1 || rows[0].UserID != nil || time.Until(rows[0].ExpiresAt) > models.AnonymousSessionLifetime {
		t.Fatalf("reset session: got %+v, want one anonymous row expiring within %v", rows, models.AnonymousSessionLifetime)
	}
}

// TestResetLinkRotatesPlantedSession: opening a reset link with a session
// an attacker planted moves the capability to a new token; the planted one
// cannot set the password.
func TestResetLinkRotatesPlantedSession(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "mallory", "mallory@example.com", "mallory's own password")
	victim := ts.createUser(t, "vicky", "vicky@example.com", "vicky's long password")
	attacker := ts.client(t)
	attacker.login("mallory", "mallory's own password")
	attacker.postForm("/accounts/logout/", nil) // leaves an anonymous session
	planted := attacker.sessionCookie()
	if planted == "" {
		t.Fatal("setup: attacker has no session token")
	}
	v := ts.client(t)
	v.setCookie(websession.SessionCookieName, planted)
	wantRedirect(t, v.get("/accounts/reset/"+ts.issueReset(t, victim.ID, time.Hour)+"/"), setPasswordURL)
	if got := v.sessionCookie(); got == planted || got == "" {
		t.Fatalf("session token after opening the link: got %q, want a new one", got)
	}
	wantStatus(t, v.get(setPasswordURL), http.StatusOK)
	// The attacker's planted token holds no capability.
	wantStatus(t, attacker.get(setPasswordURL), http.StatusBadRequest)
	wantStatus(t, attacker.postForm(setPasswordURL, setValues("attacker's password 1", "attacker's password 1")), http.StatusBadRequest)
}

// TestAdminEmailChangeVoidsLinksAndTellsOldAddress: a reset link mailed to
// the old address dies with the change, and the old address is told.
func TestAdminEmailChangeVoidsLinksAndTellsOldAddress(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	admin, _ := ts.createAdmin(t, "root", true, true)
	u := ts.createUser(t, "otto", "otto@example.com", "otto's long password")
	link := "/accounts/reset/" + ts.issueReset(t, u.ID, time.Hour) + "/"
	wantRedirect(t, admin.postForm(adminUserURL(u.ID), url.Values{"email": {"otto@new.example.com"}}), adminUserURL(u.ID))
	wantStatus(t, ts.client(t).get(link), http.StatusBadRequest)
	msg := smtpSrv.Next(t, 5*time.Second)
	if len(msg.To) != 1 || msg.To[0] != "otto@example.com" || !strings.Contains(msg.Subject, "e-mail address was changed") {
		t.Fatalf("got mail to %v %q, want the notice to the old address", msg.To, msg.Subject)
	}
}

// TestEventRetention: events older than the retention are swept.
func TestEventRetention(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "olga", "olga@example.com", "olga's long password")
	for _, age := range []time.Duration{time.Hour, 100 * 24 * time.Hour} {
		if err := ts.app.core.Events.Record(t.Context(), models.AuthEvent{Kind: models.EventLoginFailed, UserID: &u.ID,
			CreatedAt: time.Now().UTC().Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := ts.app.core.Events.DeleteOlderThan(t.Context(), models.DefaultEventRetention)
	if err != nil || n != 1 {
		t.Fatalf("got %d swept (%v), want 1", n, err)
	}
}
