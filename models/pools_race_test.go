package models

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
)

// These tests race two connection pools on one database, as two instances
// of the app would: on PostgreSQL (TEST_DATABASE_URL) they are the proof
// that each rule holds under READ COMMITTED with many instances; on SQLite
// they are two processes' worth of connections to one file.

// openTwoPools opens the same new database twice.
func openTwoPools(t *testing.T) (*gorm.DB, *gorm.DB) {
	t.Helper()
	url := testdb.URL(t)
	var dbs [2]*gorm.DB
	for i := range dbs {
		db, err := Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open pool %d: %v", i, err)
		}
		t.Cleanup(func() { _ = Close(db) })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

// Attempts on one key from two pools at once are all counted: the one that
// reaches the limit, and only it, blocks the key; the next is refused.
func TestThrottleRaceTwoPools(t *testing.T) {
	db1, db2 := openTwoPools(t)
	t1, t2 := NewThrottles(db1), NewThrottles(db2)
	limit := Limit{Max: 16, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}
	r := NewRule("login:ip", limit, "192.0.2.1")
	start := make(chan struct{})
	blocked := make(chan time.Duration, limit.Max)
	var wg sync.WaitGroup
	for i := range limit.Max {
		th := t1
		if i%2 == 1 {
			th = t2
		}
		wg.Go(func() {
			<-start
			got, err := th.Take(context.Background(), r)
			if err != nil {
				t.Errorf("Take: %v", err)
			}
			blocked <- got.Blocked
		})
	}
	close(start)
	wg.Wait()
	close(blocked)
	n := 0
	for d := range blocked {
		if d > 0 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d attempts at once against a limit of %d: got %d blocking attempts, want 1 (attempts lost or double-counted)", limit.Max, limit.Max, n)
	}
	if got, err := t2.Take(context.Background(), r); err != nil || !got.Refused() {
		t.Errorf("Take after the limit: got %+v (err %v), want refused", got, err)
	}
}

// One username signed up from two pools at once: one account, the other
// ErrDuplicateUsername (the unique index decides).
func TestUniqueUsernameRaceTwoPools(t *testing.T) {
	db1, db2 := openTwoPools(t)
	hasher := passhash.NewHasher(cheap, 4, 30*time.Second) // slots free up; never ErrBusy here
	pools := []*Users{NewUsers(db1, hasher), NewUsers(db2, hasher)}
	const n = 6
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = pools[i%2].Create(context.Background(), NewUser{Username: []string{"Zoe", "zoe", "ZOE"}[i%3], Password: "a long enough password"})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, ErrDuplicateUsername):
		default:
			t.Errorf("got %v, want nil or ErrDuplicateUsername", err)
		}
	}
	if created != 1 {
		t.Errorf("got %d accounts named zoe, want 1", created)
	}
}
