package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"gatehouse/models"
)

// writeCounter counts the rows SQLite changes, per table and operation, as
// reported by SQLite's own update hook: every INSERT, UPDATE and DELETE,
// whether it came through GORM or not.
type writeCounter struct {
	mu      sync.Mutex
	changes map[string]int // "update sessions" -> rows
}

// watchWrites makes the server's database use a single connection and
// installs SQLite's update hook on it, so every write the app makes from
// now on is counted.
func (ts *testServer) watchWrites(t *testing.T) *writeCounter {
	t.Helper()
	sqlDB, err := ts.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// One connection, so the hooked one is the one every statement uses.
	sqlDB.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wc := &writeCounter{changes: map[string]int{}}
	ops := map[int]string{sqlite3.SQLITE_INSERT: "insert", sqlite3.SQLITE_UPDATE: "update", sqlite3.SQLITE_DELETE: "delete"}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want *sqlite3.SQLiteConn", dc)
		}
		c.RegisterUpdateHook(func(op int, _, table string, _ int64) {
			wc.mu.Lock()
			defer wc.mu.Unlock()
			wc.changes[ops[op]+" "+table]++
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return wc
}

// take returns the changes counted since the last take, and resets.
func (wc *writeCounter) take() map[string]int {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	c := wc.changes
	wc.changes = map[string]int{}
	return c
}

// TestReadOnlyRequestsDoNotWrite: a signed-in user reading pages costs no
// database write, except last_seen_at, written at most once a minute per
// session.
func TestReadOnlyRequestsDoNotWrite(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "reader", "a long enough passphrase")
	wc := ts.watchWrites(t)
	sessionID, ok := models.SessionIDFromToken(c.cookie(models.SessionCookieName))
	if !ok {
		t.Fatal("no session cookie after login")
	}

	// The page after login shows (and so consumes) the welcome flash:
	// that is a write of the session's data, once.
	wantStatus(t, c.get("/"), http.StatusOK)
	wc.take()

	for _, path := range []string{"/", "/accounts/profile/", "/", "/accounts/profile/", "/no-such-page/"} {
		c.get(path)
		if got := wc.take(); len(got) != 0 {
			t.Errorf("GET %s as a signed-in user: got writes %v, want none", path, got)
		}
	}

	// Once last_seen_at is over a minute old, the next request writes it,
	// once, and the one after that does not write again.
	old := time.Now().UTC().Add(-2 * time.Minute)
	if err := ts.db.Model(&models.Session{}).Where("id = ?", sessionID).Update("last_seen_at", old).Error; err != nil {
		t.Fatal(err)
	}
	wc.take()
	wantStatus(t, c.get("/"), http.StatusOK)
	if got, want := wc.take(), map[string]int{"update sessions": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GET / with last_seen_at two minutes old: got writes %v, want %v", got, want)
	}
	wantStatus(t, c.get("/"), http.StatusOK)
	if got := wc.take(); len(got) != 0 {
		t.Errorf("GET / right after the last_seen_at write: got writes %v, want none", got)
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
