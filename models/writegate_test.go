package models

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/testdb"
)

// TestStatementCacheCannotStallWriters reproduces the stall CI met in a
// burst of sign-ins and sign-outs (go-gorm/gorm#7465 on SQLite): a write
// transaction holds the only write lock and runs a query that another
// goroutine is preparing on the pool; that goroutine waits for a
// connection; every other connection is held by a writer waiting in
// SQLite's busy handler for the lock the transaction holds. Nothing moves
// until the busy timeout fails the waiting writers with "database is
// locked". Writers now queue for the write lock before they take a
// connection, so the preparing reader gets one and all three finish.
func TestStatementCacheCannotStallWriters(t *testing.T) {
	if testdb.Postgres() {
		t.Skip("SQLite's single write lock")
	}
	const busy = 3 * time.Second
	db := openTestDB(t, WithMaxConns(2), WithBusyTimeout(busy))
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A query no one has prepared yet: the statement cache's key is its text.
	novel := fmt.Sprintf("SELECT count(*) FROM sessions WHERE id <> '%d'", time.Now().UnixNano())

	tx := db.WithContext(ctx).Begin() // holds the write lock and a connection
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	defer tx.Rollback()
	if err := tx.Exec("DELETE FROM sessions WHERE id = 'a'").Error; err != nil {
		t.Fatal(err)
	}

	writerDone := make(chan error, 1)
	go func() { // a writer outside any transaction, as sign-out is
		writerDone <- db.WithContext(ctx).Where("id = ?", "b").Delete(&Session{}).Error
	}()
	waitFor(t, 300*time.Millisecond, func() bool { return sqlDB.Stats().InUse == 2 })

	var readerN atomic.Int64
	readerDone := make(chan error, 1)
	go func() { // a reader preparing the novel query on the pool
		var n int64
		err := db.WithContext(ctx).Raw(novel).Scan(&n).Error
		readerN.Store(n)
		readerDone <- err
	}()
	waitFor(t, 300*time.Millisecond, func() bool { return sqlDB.Stats().WaitCount > 0 || len(readerDone) > 0 })

	start := time.Now()
	var n int64
	if err := tx.Raw(novel).Scan(&n).Error; err != nil {
		t.Fatalf("transaction's query: %v", err)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatalf("commit: %v", err)
	}
	stalled := time.Since(start)
	if err := <-readerDone; err != nil {
		t.Errorf("reader: %v", err)
	}
	if err := <-writerDone; err != nil {
		t.Errorf("writer outside the transaction: %v (the transaction's query waited %v)", err, stalled)
	}
	if stalled >= busy {
		t.Errorf("the transaction's query waited %v, the whole busy timeout", stalled)
	}
}

// waitFor polls cond until it holds or d has passed; either way the test
// goes on (the state it waits for may never come when the stall is fixed).
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && !cond(); {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteGateWaitIsBounded: a writer queued behind a transaction that
// holds the write lock longer than the busy timeout fails as SQLite's busy
// handler did, as unavailable (503), and the slot is free once the
// transaction ends.
func TestWriteGateWaitIsBounded(t *testing.T) {
	if testdb.Postgres() {
		t.Skip("SQLite's single write lock")
	}
	db := openTestDB(t, WithBusyTimeout(200*time.Millisecond))
	tx := db.Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	err := db.Where("id = ?", "x").Delete(&Session{}).Error
	if err = dbErr("delete", err); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write behind a held lock: %v, want ErrUnavailable", err)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	tx.Rollback() // after Commit: must not free the slot twice
	for i := range 3 {
		if err := db.Where("id = ?", "x").Delete(&Session{}).Error; err != nil {
			t.Fatalf("write %d after the transaction ended: %v", i, err)
		}
	}
}
