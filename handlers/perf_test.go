package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/dbwatch"
	"gatehouse/internal/testdb"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

// TestReadOnlyRequestsDoNotWrite: a signed-in user reading pages costs no
// database write, except last_seen_at, written at most once a minute per
// session. No write transaction either, from the requests or from the
// idle outbox worker polling beside them.
func TestReadOnlyRequestsDoNotWrite(t *testing.T) {
	testdb.SkipOnPostgres(t, "counts writes with an SQLite update hook")
	// The hooks are on every connection of the pool (the app's own pool
	// size), so a write counts whichever connection makes it.
	w := dbwatch.New()
	// last_seen_at is written when the test says (FlushTouches), not by the
	// background writer.
	ts := newTestServerWith(t, testSetup{dbOpts: []models.OpenOption{models.WithSQLiteConnectHook(w.Hook)}},
		func(c *Config) { c.TouchFlushEvery = time.Hour }, trustLocalProxy)
	c, u := ts.signUpAndLogin(t, "reader", "a long enough passphrase")
	waitOutboxIdle(t, ts)
	sessionID, ok := models.SessionIDFromToken(c.cookie(websession.SessionCookieName))
	if !ok {
		t.Fatal("no session cookie after login")
	}

	// The page after login shows (and so consumes) the welcome flash:
	// that is a write of the session's data, once.
	wantStatus(t, c.get("/"), http.StatusOK)
	w.Take()

	for _, path := range []string{"/", "/accounts/profile/", "/", "/accounts/profile/", "/no-such-page/"} {
		c.get(path)
		if got, txs := w.Take(); len(got) != 0 || txs != 0 {
			t.Errorf("GET %s as a signed-in user: got writes %v in %d write transactions, want none", path, got, txs)
		}
	}
	// Forward auth runs before every request of every protected app.
	for range 3 {
		wantStatus(t, c.forward("app.example.test", "/"), http.StatusOK)
		wantStatus(t, c.request("http://app.example.test/"), http.StatusOK)
		if got, txs := w.Take(); len(got) != 0 || txs != 0 {
			t.Errorf("forward auth as a signed-in user: got writes %v in %d write transactions, want none", got, txs)
		}
	}

	// Once last_seen_at is over a minute old, the next request queues it
	// and does not write; the flush writes it, once, in one transaction;
	// and the request after that queues nothing.
	old := time.Now().UTC().Add(-2 * time.Minute)
	if err := ts.db.Model(&models.Session{}).Where("id = ?", sessionID).Update("last_seen_at", old).Error; err != nil {
		t.Fatal(err)
	}
	w.Take()
	for range 2 {
		wantStatus(t, c.get("/"), http.StatusOK)
		if got, txs := w.Take(); len(got) != 0 || txs != 0 {
			t.Errorf("GET / with last_seen_at two minutes old: got writes %v in %d write transactions, want none (queued)", got, txs)
		}
	}
	if err := ts.h.store.FlushTouches(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, txs := w.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"update sessions": 1}) || txs != 1 {
		t.Errorf("flush: got writes %v in %d write transactions, want map[update sessions:1] in 1", got, txs)
	}
	wantStatus(t, c.get("/"), http.StatusOK)
	if err := ts.h.store.FlushTouches(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, txs := w.Take(); len(got) != 0 || txs != 0 {
		t.Errorf("GET / and a flush right after the last_seen_at write: got writes %v in %d write transactions, want none", got, txs)
	}
	var s models.Session
	if err := ts.db.Take(&s, "id = ?", sessionID).Error; err != nil {
		t.Fatal(err)
	}
	if !s.LastSeenAt.After(old.Add(time.Minute)) {
		t.Errorf("last_seen_at: got %v, want about now", s.LastSeenAt)
	}
	if s.UserID == nil || *s.UserID != u.ID {
		t.Errorf("session user: got %v, want %d", s.UserID, u.ID)
	}
}

// waitOutboxIdle waits until the outbox worker has done everything queued
// so far, so its writes do not count against the requests that follow.
func waitOutboxIdle(t *testing.T, ts *testServer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // a guard against a hang, not a performance target
	for {
		s, err := ts.app.Outbox().Stats(context.Background())
		if err == nil && s.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: got %+v (%v), want nothing pending", s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionHotPathStillRevokes: the one-query session lookup refuses, on
// the very next request, a session that was deleted (revoked), has expired,
// or whose user was deactivated or deleted; the user it loads is the
// user's current row.
func TestSessionHotPathStillRevokes(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, ts *testServer, sessionID string, u *models.User)
		ended  bool // the session row must be gone afterwards
	}{
		{"session deleted", func(t *testing.T, ts *testServer, id string, _ *models.User) {
			mustExec(t, ts, "DELETE FROM sessions WHERE id = ?", id)
		}, true},
		{"session expired", func(t *testing.T, ts *testServer, id string, _ *models.User) {
			mustExec(t, ts, "UPDATE sessions SET expires_at = ? WHERE id = ?", time.Now().UTC().Add(-time.Second), id)
		}, false},
		{"user deactivated", func(t *testing.T, ts *testServer, _ string, u *models.User) {
			mustExec(t, ts, "UPDATE users SET is_active = ? WHERE id = ?", false, u.ID)
		}, true},
		{"user deleted", func(t *testing.T, ts *testServer, _ string, u *models.User) {
			// Without the cascade, as a database restored without foreign
			// keys might be: the session row outlives its user.
			if testdb.Postgres() {
				mustExec(t, ts, "ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey")
			} else {
				mustExec(t, ts, "PRAGMA foreign_keys = OFF")
			}
			mustExec(t, ts, "DELETE FROM users WHERE id = ?", u.ID)
			var n int64
			if err := ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).Count(&n).Error; err != nil || n != 1 {
				t.Fatalf("session rows of the deleted user: got %d (%v), want 1 for this case to test anything", n, err)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			sqlDB, err := ts.db.DB()
			if err != nil {
				t.Fatal(err)
			}
			sqlDB.SetMaxOpenConns(1) // so the PRAGMA above holds for the app's queries
			c, u := ts.signUpAndLogin(t, "revokee", "a long enough passphrase")
			res := c.get("/accounts/profile/")
			wantStatus(t, res, http.StatusOK)
			id, ok := models.SessionIDFromToken(c.cookie(websession.SessionCookieName))
			if !ok {
				t.Fatal("no session cookie")
			}
			tc.change(t, ts, id, u)
			res = c.get("/accounts/profile/")
			wantRedirect(t, res, "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
			if got := c.get("/").text(t, `[data-testid="greeting"]`); got != "Welcome to Gatehouse" {
				t.Errorf("home greeting after %s: got %q, want the anonymous one", tc.name, got)
			}
			var n int64
			if err := ts.db.Model(&models.Session{}).Where("id = ?", id).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if tc.ended && n != 0 {
				t.Errorf("session row after %s: got %d rows, want it deleted", tc.name, n)
			}
		})
	}
}

// TestSessionHotPathLoadsCurrentUser: the user loaded with the session is
// the row as it is now, every field of its models.SessionUser part (each
// set to a value that is not its zero value first, so a field the lookup
// leaves out fails the test).
func TestSessionHotPathLoadsCurrentUser(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "current", "a long enough passphrase")
	mustExec(t, ts, "UPDATE users SET email = ?, email_key = ?, is_staff = ?, is_superuser = ?, email_verified = ?, language = ?, time_zone = ? WHERE id = ?",
		"new@example.com", "new@example.com", true, true, true, "de", "Europe/Berlin", u.ID)
	res := c.get("/accounts/profile/")
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.body, "new@example.com") || !strings.Contains(res.body, "Europe/Berlin") {
		t.Errorf("profile after an e-mail change: new address not shown; body: %.1000s", res.body)
	}

	byID, err := ts.users.ByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: websession.SessionCookieName, Value: c.sessionCookie()})
	gs, err := ts.h.store.New(req, websession.SessionCookieName)
	if err != nil {
		t.Fatal(err)
	}
	st := websession.StateOf(gs.Values)
	if !st.SignedIn() {
		t.Fatal("session state: not signed in, want the signed-in user")
	}
	if !reflect.DeepEqual(*st.User, byID.SessionUser) {
		t.Errorf("user loaded with the session:\n got %+v\nwant %+v", *st.User, byID.SessionUser)
	}
	loaded := reflect.ValueOf(*st.User)
	for i := range loaded.NumField() {
		if loaded.Field(i).IsZero() {
			t.Errorf("user loaded with the session: %s is its zero value, want the row's", loaded.Type().Field(i).Name)
		}
	}
	// Naming another user in the session makes the loaded one unusable.
	other := u.ID + 1
	st.UserID = &other
	if st.SignedIn() {
		t.Error("SignedIn after the session's user ID changed: got true, want false")
	}
}

func mustExec(t *testing.T, ts *testServer, sql string, args ...any) {
	t.Helper()
	if err := ts.db.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
