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

// TestDeleteOwnAccount: a wrong password deletes nothing (recorded); the
// right one removes the user, their sessions and tokens, keeps the events
// under a tombstone, mails goodbye, and signs every browser out.
func TestDeleteOwnAccount(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	c, u := ts.signUpAndLogin(t, "leaver", "leaver's long password")
	other := ts.client(t)
	other.login("leaver", "leaver's long password")
	reset := ts.issueReset(t, u.ID, time.Hour)

	wantStatus(t, c.get("/accounts/delete/"), http.StatusOK)
	res := c.postForm("/accounts/delete/", url.Values{"password": {"wrong"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = c.htmxPost("/accounts/delete/", url.Values{"password": {""}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find("form#delete-account-form").Length() != 1 || strings.Contains(res.body, "<html") {
		t.Fatal("htmx: want the form alone")
	}
	if _, err := ts.users.ByID(t.Context(), u.ID); err != nil {
		t.Fatalf("a wrong password deleted the account: %v", err)
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventAccountDeleteFailed {
		t.Fatalf("got %q, want %q", e.Kind, models.EventAccountDeleteFailed)
	}

	res = c.htmxPost("/accounts/delete/", url.Values{"password": {"leaver's long password"}})
	if got := res.Header.Get("HX-Redirect"); got != "/accounts/deleted/" {
		t.Fatalf("got HX-Redirect %q; status %d", got, res.StatusCode)
	}
	if _, err := ts.users.ByID(t.Context(), u.ID); err != models.ErrNotFound {
		t.Fatalf("user still there: %v", err)
	}
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	wantRedirect(t, other.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	wantStatus(t, c.get("/accounts/deleted/"), http.StatusOK)
	wantStatus(t, ts.client(t).get("/accounts/reset/"+reset+"/"), http.StatusBadRequest)
	var events []models.AuthEvent
	if err := ts.db.Where("user_id = ?", u.ID).Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	if len(events) < 3 {
		t.Fatalf("got %d events kept, want the account's history", len(events))
	}
	for _, e := range events {
		if e.Username != auth.Tombstone(u.ID) {
			t.Fatalf("event %q keeps the name %q, want %q", e.Kind, e.Username, auth.Tombstone(u.ID))
		}
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventUserDeleted {
		t.Fatalf("got %q, want %q", e.Kind, models.EventUserDeleted)
	}
	m := srv.Next(t, 10*time.Second)
	if m.To[0] != "leaver@example.com" || !strings.Contains(m.Subject, "deleted") {
		t.Fatalf("got %q to %v, want the goodbye mail", m.Subject, m.To)
	}
}

// TestDeleteLastSuperuser: the last active superuser cannot delete
// themselves; with another one they can. Sudo guards the page.
func TestDeleteLastSuperuser(t *testing.T) {
	ts := newTestServer(t)
	c, root := ts.createAdmin(t, "root", true, true)
	res := c.postForm("/accounts/delete/", url.Values{"password": {adminPW}})
	wantStatus(t, res, http.StatusConflict)
	if !strings.Contains(res.body, lastSuperuserError) {
		t.Fatal("no message for the last superuser")
	}
	if _, err := ts.users.ByID(t.Context(), root.ID); err != nil {
		t.Fatalf("the last superuser was deleted: %v", err)
	}
	ts.createAdmin(t, "root2", true, true)
	ts.ageReauth(t, root.ID)
	wantRedirect(t, c.get("/accounts/delete/"), reauthTo("/accounts/delete/"))
	wantRedirect(t, c.postForm("/accounts/delete/", url.Values{"password": {adminPW}}), reauthTo("/accounts/delete/"))
	wantRedirect(t, c.postForm("/accounts/reauthenticate/", url.Values{"password": {adminPW}, "next": {"/accounts/delete/"}}), "/accounts/delete/")
	wantRedirect(t, c.postForm("/accounts/delete/", url.Values{"password": {adminPW}}), "/accounts/deleted/")
}
