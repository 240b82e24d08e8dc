package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

func changeValues(old, p1, p2 string) url.Values {
	return url.Values{"old_password": {old}, "new_password1": {p1}, "new_password2": {p2}}
}

// TestPasswordChange: this session stays signed in under a new token, every
// other session ends, outstanding reset links die, a notice is mailed.
func TestPasswordChange(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	const oldPW, newPW = "correct horse battery", "tr0ub4dor and 3 more"
	a, u := ts.signUpAndLogin(t, "carol", oldPW)
	b, c := ts.client(t), ts.client(t)
	b.login("carol", oldPW)
	c.login("carol", oldPW)
	other, _ := ts.signUpAndLogin(t, "dave", "dave's long password")
	token, err := ts.app.core.Tokens.Issue(t.Context(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	wantStatus(t, a.get("/accounts/password_change/"), http.StatusOK)
	before := a.cookie("sessionid")
	res := a.postForm("/accounts/password_change/", changeValues(oldPW, newPW, newPW))
	// Like every other flow, a change ends with a message on a page.
	wantRedirect(t, res, "/accounts/profile/")
	if after := a.cookie("sessionid"); after == "" || after == before {
		t.Fatalf("session token not rotated: before %q, after %q", before, after)
	}
	profile := a.get("/accounts/profile/")
	wantStatus(t, profile, http.StatusOK)
	if got := profile.text(t, "[data-testid=flash]"); !strings.Contains(got, "Your password was changed") {
		t.Errorf("flash after the change: got %q", got)
	}
	wantStatus(t, a.get("/accounts/password_change/done/"), http.StatusOK)
	for name, cl := range map[string]*testClient{"b": b, "c": c} {
		res := cl.get("/accounts/profile/")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/accounts/login/") {
			t.Errorf("session %s still signed in after password change: %d %s", name, res.StatusCode, res.Header.Get("Location"))
		}
	}
	wantStatus(t, other.get("/accounts/profile/"), http.StatusOK)
	if n := ts.sessionCount(t, u.ID); n != 1 {
		t.Errorf("got %d sessions of the user, want 1", n)
	}
	hash, _ := models.TokenHash(token)
	if _, err := ts.app.core.Tokens.Check(t.Context(), models.PurposePasswordReset, hash); err != models.ErrInvalidToken {
		t.Errorf("reset link after password change: got %v, want ErrInvalidToken", err)
	}
	// The new password works, the old one does not.
	wantStatus(t, ts.client(t).postForm("/accounts/login/", url.Values{"username": {"carol"}, "password": {oldPW}}), http.StatusUnprocessableEntity)
	ts.client(t).login("carol", newPW)

	msg := smtpSrv.Next(t, 5*time.Second)
	if msg.To[0] != "carol@example.com" || !strings.Contains(msg.Subject, "password was changed") {
		t.Errorf("got notice to %v %q", msg.To, msg.Subject)
	}
	if !strings.Contains(msg.Text, "was changed") || !strings.Contains(msg.HTML, "was changed") {
		t.Errorf("notice parts: text %q html %q", msg.Text, msg.HTML)
	}
	var n int64
	ts.db.Model(&models.AuthEvent{}).Where("kind = ? AND user_id = ?", models.EventPasswordChanged, u.ID).Count(&n)
	if n != 1 {
		t.Errorf("got %d password_changed events, want 1", n)
	}
}

func TestPasswordChangeValidation(t *testing.T) {
	ts := newTestServer(t)
	const pw = "correct horse battery"
	a, _ := ts.signUpAndLogin(t, "erinsmith", pw)
	cases := []struct {
		name   string
		values url.Values
		field  string
		want   string
	}{
		{"wrong old password", changeValues("nope", "a fine new password", "a fine new password"), "old_password", oldPasswordError},
		{"mismatch", changeValues(pw, "a fine new password", "a fine new passw0rd"), "new_password2", mismatchError},
		{"common", changeValues(pw, "qwertyuiop", "qwertyuiop"), "new_password1", "too common"},
		{"similar to username", changeValues(pw, "erinsmith1", "erinsmith1"), "new_password1", "too similar"},
		{"too long", changeValues(pw, strings.Repeat("x", 1025), strings.Repeat("x", 1025)), "new_password1", "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := a.htmxPost("/accounts/password_change/", tc.values)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := res.doc(t).Find("[data-testid=" + tc.field + "-msg] .error").Text(); !strings.Contains(got, tc.want) {
				t.Errorf("got %s errors %q, want %q", tc.field, got, tc.want)
			}
		})
	}
	ts.client(t).login("erinsmith", pw) // unchanged
}

func TestPasswordChangeNeedsLogin(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	wantRedirect(t, c.get("/accounts/password_change/"), "/accounts/login/?next=%2Faccounts%2Fpassword_change%2F")
	res := c.postForm("/accounts/password_change/", changeValues("a", "b", "b"))
	wantStatus(t, res, http.StatusSeeOther)
}

// TestPasswordChangeIsAllOrNothing injects a failure into the last writes
// of a password change (a trigger refusing the queued notice, or the
// security event) and checks that nothing of it happened: the old password
// still works, the other sessions are still signed in, no event, no mail.
// Without the fault, all of it happens.
func TestPasswordChangeIsAllOrNothing(t *testing.T) {
	for _, table := range []string{"outbox_messages", "auth_events"} {
		t.Run("failure writing "+table, func(t *testing.T) {
			ts := newTestServer(t)
			const oldPW, newPW = "correct horse battery", "tr0ub4dor and 3 more"
			a, u := ts.signUpAndLogin(t, "carol", oldPW)
			b := ts.client(t)
			b.login("carol", oldPW)
			injectFault(t, ts, table)

			res := a.postForm("/accounts/password_change/", changeValues(oldPW, newPW, newPW))
			if res.StatusCode < 500 {
				t.Fatalf("with the fault: got status %d, want a server error", res.StatusCode)
			}
			wantStatus(t, b.get("/accounts/profile/"), http.StatusOK)
			wantStatus(t, a.get("/accounts/profile/"), http.StatusOK)
			if n := ts.sessionCount(t, u.ID); n != 2 {
				t.Errorf("sessions after the failed change: got %d, want 2", n)
			}
			if n := countRows(t, ts, "auth_events", "kind = ?", models.EventPasswordChanged); n != 0 {
				t.Errorf("password_changed events after the failed change: got %d, want 0", n)
			}
			if n := countRows(t, ts, "outbox_messages", "kind = ?", models.KindPasswordChanged); n != 0 {
				t.Errorf("queued notices after the failed change: got %d, want 0", n)
			}
			clearFault(t, ts, table)
			ts.client(t).login("carol", oldPW) // the old password still works

			wantRedirect(t, a.postForm("/accounts/password_change/", changeValues(oldPW, newPW, newPW)), passwordChangedURL)
			if res := b.get("/accounts/profile/"); res.StatusCode != http.StatusSeeOther {
				t.Errorf("other session after the change: got %d, want signed out", res.StatusCode)
			}
			if n := countRows(t, ts, "auth_events", "kind = ? AND user_id = ?", models.EventPasswordChanged, u.ID); n != 1 {
				t.Errorf("password_changed events: got %d, want 1", n)
			}
			if n := countRows(t, ts, "outbox_messages", "kind = ? AND user_id = ?", models.KindPasswordChanged, u.ID); n != 1 {
				t.Errorf("queued notices: got %d, want 1", n)
			}
			wantStatus(t, ts.client(t).postForm("/accounts/login/", loginValues("carol", oldPW)), http.StatusUnprocessableEntity)
			ts.client(t).login("carol", newPW)
		})
	}
}

// countRows counts rows of table matching where.
func countRows(t *testing.T, ts *testServer, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := ts.db.Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// injectFault makes every insert into table fail, with a trigger.
func injectFault(t *testing.T, ts *testServer, table string) {
	t.Helper()
	if ts.db.Dialector.Name() == "postgres" {
		mustExec(t, ts, "CREATE FUNCTION fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql")
		mustExec(t, ts, "CREATE TRIGGER fault BEFORE INSERT ON "+table+" FOR EACH ROW EXECUTE FUNCTION fault()")
		return
	}
	mustExec(t, ts, "CREATE TRIGGER fault BEFORE INSERT ON "+table+" BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
}

// clearFault removes what injectFault made.
func clearFault(t *testing.T, ts *testServer, table string) {
	t.Helper()
	if ts.db.Dialector.Name() == "postgres" {
		mustExec(t, ts, "DROP TRIGGER fault ON "+table)
		mustExec(t, ts, "DROP FUNCTION fault()")
		return
	}
	mustExec(t, ts, "DROP TRIGGER fault")
}
