package models

import (
	"context"
	"errors"
	"gatehouse/internal/passhash"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOpenRefusesCorruptDatabase: start-up stops with a clear message on a
// file that is not a database or whose pages are damaged, instead of
// serving errors request by request.
func TestOpenRefusesCorruptDatabase(t *testing.T) {
	ctx := context.Background()
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("this is not an SQLite file\n", 400)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, path)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a database") {
			t.Fatalf("got %v, want ErrCorrupt saying it is not a database", err)
		}
	})
	t.Run("damaged pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "damaged.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		users := NewUsers(db, passhash.NewHasher(passhash.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second))
		for _, name := range []string{"alice", "bob", "carol"} {
			if _, err := users.Create(ctx, NewUser{Username: name, Email: name + "@example.com", Password: "correct horse battery"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
			t.Fatal(err)
		}
		if err := Close(db); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		// Damage the middle of the file: tables and indexes, not the header.
		if _, err := f.WriteAt([]byte(strings.Repeat("\xff", int(fi.Size()/2))), fi.Size()/4); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = Open(ctx, path)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "restore it from a backup") {
			t.Fatalf("got %v, want ErrCorrupt from the quick check, with advice", err)
		}
	})
}

// TestProbeCachesAndRecovers: one check serves every caller for the
// interval (a flood of /readyz does not reach the database), then the next
// check sees the current state.
func TestProbeCachesAndRecovers(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "probe.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	p := NewProbe(db, 300*time.Millisecond)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if err := db.Exec("PRAGMA query_only = ON").Error; err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := p.Check(ctx); err != nil {
			t.Fatalf("within the interval: got %v, want the cached success", err)
		}
	}
	time.Sleep(350 * time.Millisecond)
	if err := p.Check(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read-only: got %v, want ErrUnavailable", err)
	}
	if err := db.Exec("PRAGMA query_only = OFF").Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	var n int64
	db.Raw("SELECT count(*) FROM sqlite_master WHERE name LIKE '%probe%'").Scan(&n)
	if n != 0 {
		t.Fatalf("probe left %d tables behind", n)
	}
}

// TestQuickCheckLeavesNoPagesBehind: the start-up quick_check (and the
// hourly one) reads every page of the file; it must not leave the pages it
// read cached on a pooled connection. On a 400 MB database it left 16 MB
// behind, a third of the server's idle RSS.
func TestQuickCheckLeavesNoPagesBehind(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "big.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// About 60 MB of rows, written through a connection whose own cache is
	// tiny, so writing them leaves no memory behind either.
	sqlDB, _ := db.DB()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PRAGMA cache_size=-64",
		"CREATE TABLE filler (v TEXT)",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 450000) INSERT INTO filler SELECT hex(randomblob(60)) FROM n",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	conn.Close()
	if err := Close(db); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 50<<20 {
		t.Fatalf("database file: %v, %v", fi, err)
	}

	before := rssAnonKiB(t)
	db, err = Open(ctx, path) // runs the quick_check
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	if err := QuickCheck(ctx, db); err != nil { // as the hourly check does
		t.Fatal(err)
	}
	after := rssAnonKiB(t)
	if grown := after - before; grown > 6<<10 {
		t.Fatalf("the process's private memory grew by %d KiB over two quick_checks of a %d MB file; want under 6 MiB (the pool's page cache is 16 MB)",
			grown, 60)
	}
	// The pool's connections still have their full page cache.
	var size int
	if err := db.Raw("PRAGMA cache_size").Scan(&size).Error; err != nil || size != sqliteCacheKiB {
		t.Fatalf("cache_size after the check: %d, %v; want %d", size, err, sqliteCacheKiB)
	}
}

// rssAnonKiB is this process's private resident memory (Go heap, C heap,
// stacks) after a garbage collection that returns what it can.
func rssAnonKiB(t *testing.T) int {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(line, err)
			}
			return kb
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}
