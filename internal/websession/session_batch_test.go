package websession

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// fakeRows answers loadMany from a fixed table, counting statements and
// the largest batch, and holding each statement for a while so that
// lookups pile up behind the ones in flight.
type fakeRows struct {
	rows       map[string]loadedSession
	hold       time.Duration
	calls      atomic.Int64
	largest    atomic.Int64
	inFlight   atomic.Int64
	mostFlying atomic.Int64
	fail       error
}

func (f *fakeRows) loadMany(ids []string) (map[string]loadedSession, error) {
	f.calls.Add(1)
	if n := f.inFlight.Add(1); n > f.mostFlying.Load() {
		f.mostFlying.Store(n)
	}
	defer f.inFlight.Add(-1)
	for n := int64(len(ids)); n > f.largest.Load(); {
		if f.largest.CompareAndSwap(f.largest.Load(), n) {
			break
		}
	}
	time.Sleep(f.hold)
	if f.fail != nil {
		return nil, f.fail
	}
	out := map[string]loadedSession{}
	for _, id := range ids {
		if r, ok := f.rows[id]; ok {
			out[id] = r
		}
	}
	return out, nil
}

// A burst of lookups is answered in batches, never more statements at
// once than allowed, each lookup with its own row; unknown and expired
// sessions are not found.
func TestSessionBatcherBurst(t *testing.T) {
	now := time.Now()
	f := &fakeRows{rows: map[string]loadedSession{}, hold: 2 * time.Millisecond}
	for i := range 100 {
		uid := uint(i + 1)
		f.rows[fmt.Sprint("s", i)] = loadedSession{state: models.SessionState{
			ExpiresAt: now.Add(time.Hour), UserID: &uid, User: &models.SessionUser{ID: uid, Username: fmt.Sprint("user", i)}}}
	}
	f.rows["expired"] = loadedSession{state: models.SessionState{ExpiresAt: now.Add(-time.Second)}}
	b := newSessionBatcher(2, 16)

	var wg sync.WaitGroup
	var wrong atomic.Int64
	for round := range 5 {
		for i := range 100 {
			wg.Go(func() {
				id := fmt.Sprint("s", i)
				switch i % 10 {
				case 7:
					id = fmt.Sprint("unknown", i, round)
				case 9:
					id = "expired"
				}
				row, found, err := b.load(id, now, f.loadMany)
				switch {
				case err != nil:
					wrong.Add(1)
				case i%10 == 7 || i%10 == 9:
					if found {
						wrong.Add(1)
					}
				case !found || row.state.User == nil || row.state.User.Username != fmt.Sprint("user", i):
					wrong.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d of 500 lookups got the wrong answer", n)
	}
	if got := f.mostFlying.Load(); got > 2 {
		t.Errorf("%d statements in flight at once, want at most 2", got)
	}
	if got := f.largest.Load(); got < 2 || got > 16 {
		t.Errorf("largest batch %d, want 2..16", got)
	}
	if calls := f.calls.Load(); calls >= 500 {
		t.Errorf("%d statements for 500 lookups: nothing was batched", calls)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight != 0 || len(b.waiting) != 0 {
		t.Errorf("after the burst: %d in flight, %d waiting; want none", b.inFlight, len(b.waiting))
	}
}

// A failed statement fails every lookup it was answering, and the next
// lookups run again.
func TestSessionBatcherError(t *testing.T) {
	boom := errors.New("connection lost")
	f := &fakeRows{rows: map[string]loadedSession{}, hold: time.Millisecond, fail: boom}
	b := newSessionBatcher(1, 8)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 40 {
		wg.Go(func() {
			if _, _, err := b.load(fmt.Sprint(i), time.Now(), f.loadMany); errors.Is(err, boom) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 40 {
		t.Fatalf("%d of 40 lookups failed, want all", failed.Load())
	}
	f.fail = nil
	f.rows["x"] = loadedSession{state: models.SessionState{ExpiresAt: time.Now().Add(time.Hour)}}
	if _, found, err := b.load("x", time.Now(), f.loadMany); err != nil || !found {
		t.Fatalf("after the failure: found=%v err=%v", found, err)
	}
}

// Two requests with the same cookie in one batch get copies: what one
// changes on its user, the other does not see.
func TestSessionBatcherSameCookie(t *testing.T) {
	uid := uint(1)
	f := &fakeRows{hold: 5 * time.Millisecond, rows: map[string]loadedSession{"s": {
		state: models.SessionState{ExpiresAt: time.Now().Add(time.Hour), UserID: &uid, User: &models.SessionUser{ID: 1, Username: "alice"}}}}}
	b := newSessionBatcher(1, 8)
	users := make(chan *models.SessionUser, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			row, _, _ := b.load("s", time.Now(), f.loadMany)
			users <- row.state.User
		})
	}
	wg.Wait()
	close(users)
	seen := map[*models.SessionUser]bool{}
	for u := range users {
		if u == nil || seen[u] {
			t.Fatal("two lookups share one *User (or got none)")
		}
		seen[u] = true
	}
}

// On PostgreSQL, signed-in lookups go through the batcher: under a burst of
// concurrent requests every cookie resolves to its own user, and sessions
// ended before the burst are refused, exactly as one statement per lookup
// would answer.
func TestSessionLookupsBatchedOnPostgres(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("batching is PostgreSQL's (set TEST_DATABASE_URL)")
	}
	db := openTestDB(t)
	store := NewSessionStore(db, time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if store.batch == nil {
		t.Fatal("no batcher on PostgreSQL")
	}
	type signedIn struct {
		token, username string
		ended           bool
	}
	tokens, ids := signInN(t, db, store, 24)
	var all []signedIn
	for i, tok := range tokens {
		all = append(all, signedIn{token: tok, username: fmt.Sprint("toucher", i), ended: i%3 == 0})
		if i%3 == 0 {
			if err := db.Delete(&models.Session{}, "id = ?", ids[i]).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range 10 {
		for _, s := range all {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: s.token})
				gs, err := store.New(req, SessionCookieName)
				st := StateOf(gs.Values)
				switch {
				case err != nil:
					wrong.Add(1)
				case s.ended && st.SignedIn():
					wrong.Add(1)
				case !s.ended && (!st.SignedIn() || st.User.Username != s.username):
					wrong.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d of %d lookups got the wrong session", n, 10*len(all))
	}
	// What the session cache answered (models.Changes) did not reach the
	// batcher.
	stmts, lookups := store.batch.statements.Load(), store.batch.lookups.Load()
	hits, _ := store.cache.Stats()
	t.Logf("%d lookups in %d statements, %d from the cache", lookups, stmts, hits)
	if lookups+int64(hits) != int64(10*len(all)) || stmts >= lookups {
		t.Errorf("%d lookups in %d statements and %d from the cache: want all %d, batched", lookups, stmts, hits, 10*len(all))
	}
}

// A lookup statement that cannot finish (here: the sessions table locked
// by another transaction) fails its lookups as unavailable once its
// deadline passes, instead of holding every signed-in request; once the
// lock is gone, lookups work again.
func TestSessionLookupDeadlineOnPostgres(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("batching is PostgreSQL's (set TEST_DATABASE_URL)")
	}
	defer func(d time.Duration) { sessionLookupTimeout = d }(sessionLookupTimeout)
	sessionLookupTimeout = 300 * time.Millisecond
	db := openTestDB(t)
	store := NewSessionStore(db, time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tokens, _ := signInN(t, db, store, 3)
	lookup := func(token string) error {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: token})
		gs, err := store.New(req, SessionCookieName)
		if err == nil && !StateOf(gs.Values).SignedIn() {
			return errors.New("not signed in")
		}
		return err
	}

	locker := db.Begin()
	if err := locker.Exec("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE").Error; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	start := time.Now()
	for _, tok := range tokens {
		wg.Go(func() { errs <- lookup(tok) })
	}
	wg.Wait()
	took := time.Since(start)
	locker.Rollback()
	close(errs)
	for err := range errs {
		if !errors.Is(err, models.ErrUnavailable) {
			t.Errorf("lookup behind a lock: got %v, want ErrUnavailable", err)
		}
	}
	// Deadlines, not a hang: the statements queued one behind another
	// each give up after their own deadline.
	if took > time.Duration(len(tokens)+1)*sessionLookupTimeout+5*time.Second {
		t.Errorf("lookups behind a lock took %v", took)
	}
	for _, tok := range tokens {
		if err := lookup(tok); err != nil {
			t.Errorf("after the lock: %v", err)
		}
	}
}
