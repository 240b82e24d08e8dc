package models

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func stampOf(t *testing.T, w ChangeWatch) ChangeStamp {
	t.Helper()
	s, ok := w.Stamp()
	if !ok {
		t.Fatal("no stamp")
	}
	return s
}

// The change stamp moves with every commit, by this handle, another
// handle or another process, and only then.
func TestChangeStampMovesWithEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(a)
	w := Changes(a)
	if w == nil {
		t.Fatal("an SQLite file has no change watch")
	}
	if err := a.Exec("CREATE TABLE t (x)").Error; err != nil {
		t.Fatal(err)
	}
	s1 := stampOf(t, w)
	var n int
	if err := a.Raw("SELECT count(*) FROM t").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if s := stampOf(t, w); s != s1 {
		t.Fatal("a read moved the stamp")
	}
	if err := a.Exec("INSERT INTO t VALUES (1)").Error; err != nil {
		t.Fatal(err)
	}
	s2 := stampOf(t, w)
	if s2 == s1 {
		t.Fatal("a commit by the same handle did not move the stamp")
	}
	// A rolled-back write commits nothing.
	tx := a.Begin()
	tx.Exec("INSERT INTO t VALUES (2)")
	tx.Rollback()
	if s := stampOf(t, w); s != s2 {
		t.Fatal("a rolled-back transaction moved the stamp")
	}

	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Exec("UPDATE t SET x = 3").Error; err != nil {
		t.Fatal(err)
	}
	s3 := stampOf(t, w)
	if s3 == s2 {
		t.Fatal("another handle's commit did not move the stamp")
	}
	// A checkpoint moves no data; the stamp may stay or move, but the
	// next commit after it (which restarts the WAL) must move it.
	// (Read to its end: an Exec leaves the pragma's row unread and its
	// statement open, which keeps the connection's writes uncommitted.)
	var busy, logged, done int
	if err := b.Raw("PRAGMA wal_checkpoint(TRUNCATE)").Row().Scan(&busy, &logged, &done); err != nil {
		t.Fatal(err)
	}
	s4 := stampOf(t, w)
	if err := b.Exec("UPDATE t SET x = 4").Error; err != nil {
		t.Fatal(err)
	}
	if s := stampOf(t, w); s == s4 || s == s3 {
		t.Fatal("a commit after a checkpoint did not move the stamp")
	}

	// Every pool connection of a closed, the other handle closes: without
	// a's own held connection SQLite would delete the shared-memory file
	// and a new one would be made, which a's mapping never sees.
	sqlA, _ := a.DB()
	sqlA.SetMaxIdleConns(0)
	shm, err := os.Stat(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if err := Close(b); err != nil {
		t.Fatal(err)
	}
	s5 := stampOf(t, w)
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(c)
	if err := c.Exec("UPDATE t SET x = 5").Error; err != nil {
		t.Fatal(err)
	}
	if s := stampOf(t, w); s == s5 {
		t.Fatal("a commit after every other handle closed did not move the stamp (shared-memory file replaced?)")
	}
	if now, err := os.Stat(path + "-shm"); err != nil || !os.SameFile(now, shm) {
		t.Fatalf("the shared-memory file was replaced (%v)", err)
	}

	if err := Close(a); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Stamp(); ok {
		t.Fatal("a closed handle's watch still gives stamps")
	}
	// c shares the mapping: still watched.
	if _, ok := Changes(c).Stamp(); !ok {
		t.Fatal("closing one handle stopped another's watch of the same file")
	}
}

// Under a burst of commits from several goroutines, a stamp read after a
// commit returned always differs from one read before it began.
func TestChangeStampBurst(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	if err := db.Exec("CREATE TABLE t (x)").Error; err != nil {
		t.Fatal(err)
	}
	w := Changes(db)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				before, ok := w.Stamp()
				if err := db.Exec("INSERT INTO t VALUES (1)").Error; err != nil {
					t.Error(err)
					return
				}
				if after, ok2 := w.Stamp(); ok && ok2 && after == before {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d commits left the stamp as it was", bad.Load())
	}
}
