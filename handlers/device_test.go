package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// TestNewDeviceNotice: the account's first browser is learnt silently; a
// sign-in from another browser (no or unknown device cookie) is recorded
// and mailed once; a known browser is not.
func TestNewDeviceNotice(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, trustLocalProxy, func(c *Config) { c.NewDeviceNotice = true })
	u := ts.createUser(t, "traveller", "traveller@example.com", "traveller's long password")
	home := ts.clientFrom(t, "198.51.100.1", firefoxUA)
	home.login("traveller", "traveller's long password")
	if home.cookie("device") == "" {
		t.Fatal("no device cookie after login")
	}
	home.postForm("/accounts/logout/", nil)
	home.login("traveller", "traveller's long password")
	srv.None(t, 300*time.Millisecond)

	away := ts.clientFrom(t, "203.0.113.5", chromeUA)
	away.login("traveller", "traveller's long password")
	m := srv.Next(t, 10*time.Second)
	if m.To[0] != "traveller@example.com" || !strings.Contains(m.Text, "Chrome 131 on Windows") || !strings.Contains(m.Text, "203.0.113.5") {
		t.Fatalf("got %q to %v:\n%s", m.Subject, m.To, m.Text)
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventNewDevice {
		t.Fatalf("got event %q, want %q", e.Kind, models.EventNewDevice)
	}
	away.postForm("/accounts/logout/", nil)
	away.login("traveller", "traveller's long password")
	// A forged cookie is just another unknown browser.
	forged := ts.clientFrom(t, "203.0.113.6", chromeUA)
	forged.setCookie("device", "not-a-token")
	forged.login("traveller", "traveller's long password")
	if m := srv.Next(t, 10*time.Second); !strings.Contains(m.Text, "203.0.113.6") {
		t.Fatalf("want the notice for the forged cookie's sign-in, got:\n%s", m.Text)
	}
	srv.None(t, 300*time.Millisecond)
}

// TestActivityPage: the user's own events, newest first, 20 a page;
// nobody else's; hostile page numbers answer a page, never an error.
func TestActivityPage(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "watcher", "watcher's long password")
	other := ts.createUser(t, "other", "other@example.com", "other's long password")
	for i := range 25 {
		if err := ts.app.core.Events.Record(t.Context(), models.AuthEvent{Kind: models.EventLoginFailed, UserID: &u.ID, Username: u.Username,
			Detail: fmt.Sprintf("attempt %02d", i), CreatedAt: time.Now().UTC().Add(time.Duration(i-100) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.app.core.Events.Record(t.Context(), models.AuthEvent{Kind: models.EventLoginFailed, UserID: &other.ID, Username: other.Username, Detail: "not yours"}); err != nil {
		t.Fatal(err)
	}
	res := c.get("/accounts/activity/")
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	if n := doc.Find("[data-testid=activity-row]").Length(); n != models.ActivityPerPage {
		t.Fatalf("page 1: got %d rows, want %d", n, models.ActivityPerPage)
	}
	if got := strings.TrimSpace(doc.Find("[data-testid=activity-what]").First().Text()); got != "Signed in" {
		t.Fatalf("newest: got %q, want Signed in", got)
	}
	if strings.Contains(res.body, "not yours") {
		t.Fatal("another user's event is shown")
	}
	if doc.Find("[data-testid=activity-older]").Length() != 1 || doc.Find("[data-testid=activity-newer]").Length() != 0 {
		t.Fatal("page 1: want an Older link only")
	}
	res = c.htmxGet("/accounts/activity/?page=2")
	wantStatus(t, res, http.StatusOK)
	if n := res.doc(t).Find("[data-testid=activity-row]").Length(); n != 6 {
		t.Fatalf("page 2: got %d rows, want 6 (26 events)", n)
	}
	if !strings.Contains(res.body, "attempt 00") {
		t.Fatal("page 2 lacks the oldest event")
	}
	for _, q := range []string{"abc", "-5", "99999999999999999999", "1000000"} {
		wantStatus(t, c.get("/accounts/activity/?page="+q), http.StatusOK)
	}
}
