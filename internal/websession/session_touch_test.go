package websession

import (
	"context"
	"fmt"
	"gatehouse/internal/passhash"
	"gatehouse/models"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// signInN makes n users, each signed in once (not remembered), and returns
// their cookie tokens and session IDs.
func signInN(t *testing.T, db *gorm.DB, store *SessionStore, n int) (tokens, ids []string) {
	t.Helper()
	ctx := context.Background()
	users := models.NewUsers(db, passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second))
	for i := range n {
		u, err := users.Create(ctx, models.NewUser{Username: fmt.Sprint("toucher", i), Email: fmt.Sprint("toucher", i, "@example.com"), Password: "a long enough passphrase"})
		if err != nil {
			t.Fatal(err)
		}
		var ns models.NewSession
		if err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			ns, err = models.SignIn(tx, ctx, "", u, models.AuthPassword, false, store.life)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		id, _ := models.SessionIDFromToken(ns.Token())
		tokens, ids = append(tokens, ns.Token()), append(ids, id)
	}
	return tokens, ids
}

func loadWith(t *testing.T, store *SessionStore, token string) models.SessionState {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: token})
	gs, err := store.New(req, SessionCookieName)
	if err != nil {
		t.Fatal(err)
	}
	return *StateOf(gs.Values)
}

// Requests that find last_seen_at due only queue it; one flush writes them
// all, moving idle expiries forward; a row deleted meanwhile stays deleted,
// and an expiry is never moved back.
func TestSessionTouchesQueuedThenFlushed(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	store := NewSessionStore(db, 14*24*time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tokens, ids := signInN(t, db, store, 4)
	old := time.Now().UTC().Add(-10 * time.Minute)
	if err := db.Model(&models.Session{}).Where("id IN ?", ids).
		Updates(map[string]any{"last_seen_at": old, "expires_at": old.Add(30 * time.Minute)}).Error; err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if st := loadWith(t, store, tok); !st.SignedIn() || !st.ExpiresAt.After(time.Now().Add(50*time.Minute)) {
			t.Fatalf("loaded session: signed in %v, expires %v; want signed in, idle expiry moved to about now+1h", st.SignedIn(), st.ExpiresAt)
		}
	}
	seen := func(id string) (time.Time, time.Time, bool) {
		var s models.Session
		if err := db.Take(&s, "id = ?", id).Error; err != nil {
			return time.Time{}, time.Time{}, false
		}
		return s.LastSeenAt, s.ExpiresAt, true
	}
	if ls, _, _ := seen(ids[0]); ls.After(old.Add(time.Second)) {
		t.Fatalf("last_seen_at written by the request itself (%v), want it queued", ls)
	}
	// Meanwhile: session 1 signs out; session 2's expiry is set far out by
	// some other write.
	if err := db.Delete(&models.Session{}, "id = ?", ids[1]).Error; err != nil {
		t.Fatal(err)
	}
	far := time.Now().UTC().Add(30 * 24 * time.Hour)
	if err := db.Model(&models.Session{}).Where("id = ?", ids[2]).Update("expires_at", far).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.FlushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		ls, exp, ok := seen(id)
		switch {
		case i == 1:
			if ok {
				t.Errorf("session deleted before the flush is back")
			}
		case !ok:
			t.Errorf("session %d gone", i)
		case ls.Before(time.Now().Add(-time.Minute)):
			t.Errorf("session %d: last_seen_at %v not written", i, ls)
		case i == 2 && !exp.Equal(far.Truncate(time.Microsecond)) && exp.Before(far.Add(-time.Second)):
			t.Errorf("session 2: expiry moved back from %v to %v", far, exp)
		case i != 2 && exp.Before(time.Now().Add(50*time.Minute)):
			t.Errorf("session %d: idle expiry %v not moved along", i, exp)
		}
	}
	if store.touches.pending != nil {
		t.Error("queue not emptied by the flush")
	}
}

// Many requests queue touches while flushes run: every session ends up
// written, with no error or data race.
func TestSessionTouchesRace(t *testing.T) {
	db := openTestDB(t)
	store := NewSessionStore(db, 14*24*time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tokens, ids := signInN(t, db, store, 12)
	old := time.Now().UTC().Add(-10 * time.Minute)
	if err := db.Model(&models.Session{}).Where("id IN ?", ids).Update("last_seen_at", old).Error; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		for _, tok := range tokens {
			wg.Go(func() { loadWith(t, store, tok) })
		}
		wg.Go(func() {
			if err := store.FlushTouches(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := store.FlushTouches(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stale int64
	if err := db.Model(&models.Session{}).Where("id IN ? AND last_seen_at < ?", ids, old.Add(time.Minute)).Count(&stale).Error; err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d of %d sessions' last_seen_at not written", stale, len(ids))
	}
}
