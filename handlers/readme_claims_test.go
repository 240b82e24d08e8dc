package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/settings"
	"gatehouse/internal/websession"
	"gatehouse/mail"
	"gatehouse/models"
)

// These tests pin sentences of the README that no other test states
// exactly. Change the README with them.

// README (How it behaves, Sessions): "Logout deletes the session's row, so
// the old cookie is worthless; the browser then gets a new cookie for a
// fresh, empty session that carries only the "You have been signed out."
// message."
func TestLogoutAsTheREADMESays(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "alice", "correct-horse-battery")
	old := c.cookie(websession.SessionCookieName)
	res := c.postForm("/accounts/logout/", nil)
	wantRedirect(t, res, "/")
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Errorf("the user's session rows after logout: got %d, want 0", n)
	}
	oldID, _ := models.SessionIDFromToken(old)
	var n int64
	ts.db.Model(&models.Session{}).Where("id = ?", oldID).Count(&n)
	if n != 0 {
		t.Errorf("the old session row after logout: got %d, want deleted", n)
	}
	fresh := c.cookie(websession.SessionCookieName)
	if fresh == "" || fresh == old {
		t.Fatalf("cookie after logout: got %q, want a new token (old %q)", fresh, old)
	}
	home := c.get("/")
	if got := home.text(t, "[data-testid=flash]"); !strings.Contains(got, "You have been signed out.") {
		t.Errorf("the new session's message: got %q", got)
	}
	if got := home.text(t, "[data-testid=greeting]"); got != "Welcome to Gatehouse" {
		t.Errorf("greeting with the new cookie: got %q, want the anonymous one", got)
	}
}

// README (Reset per address): "staff can send one from the user's admin
// page, which this limit does not count. Staff are not exempt from the
// 5-minute rule, though: while a link mailed to the account in the last 5
// minutes is unused, another request sends nothing — silently from the
// public form, and the admin page says so."
func TestAdminResetWithinFiveMinutesSendsNothing(t *testing.T) {
	if settings.DefaultResetThrottle != 5*time.Minute || mail.HumanDuration(settings.DefaultResetThrottle) != "5 minutes" {
		t.Fatalf("DefaultResetThrottle: got %v (%q), the README says 5 minutes", settings.DefaultResetThrottle, mail.HumanDuration(settings.DefaultResetThrottle))
	}
	const window = 300 * time.Millisecond // the 5 minutes, shortened
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, func(c *Config) {
		c.PasswordResetThrottle = window
		c.PasswordResetLimitPerEmail = models.Limit{Max: 1, Window: time.Hour}
	})
	admin, _ := ts.createAdmin(t, "stella", true, false)
	u := ts.createUser(t, "wendy", "wendy@example.com", "wendy's long password")
	path := fmt.Sprintf("/admin/users/%d/", u.ID)

	// The public form uses up the per-address quota (1 here).
	ts.client(t).postForm("/accounts/password_reset/", map[string][]string{"email": {"wendy@example.com"}})
	smtpSrv.Next(t, 5*time.Second)
	time.Sleep(window + 100*time.Millisecond)
	// Staff are not counted against that quota: their request is mailed.
	wantRedirect(t, admin.postForm(path+"password-reset/", nil), path)
	smtpSrv.Next(t, 5*time.Second)
	// But a second one while that link is unused sends nothing, and the
	// admin is told so.
	wantRedirect(t, admin.postForm(path+"password-reset/", nil), path)
	if got := admin.get(path).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "Nothing was sent") {
		t.Errorf("got flash %q, want to be told nothing was sent", got)
	}
	smtpSrv.None(t, window/2)
}
