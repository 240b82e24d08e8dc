package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// getReady polls /readyz until it answers want (results are cached for a
// second) or fails after a few seconds.
func getReady(t *testing.T, ts *testServer, want int) *response {
	t.Helper()
	c := ts.client(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := c.get("/readyz")
		if res.StatusCode == want || time.Now().After(deadline) {
			wantStatus(t, res, want)
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("/readyz: got Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
			}
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noProbeLeftovers fails if a readiness check left a table behind.
func noProbeLeftovers(t *testing.T, ts *testServer) {
	t.Helper()
	var n int64
	if err := ts.db.Raw("SELECT count(*) FROM sqlite_master WHERE name LIKE '%probe%'").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("readiness check left %d tables behind", n)
	}
}

// TestReadyzFollowsTheDatabase: /readyz answers 200 while the database can
// be read and written and 503 while it is read-only or locked by another
// process, and recovers after; /healthz stays 200 (process only).
func TestReadyzFollowsTheDatabase(t *testing.T) {
	testdb.SkipOnPostgres(t, "breaks the SQLite file under the server")
	ts := newTestServerWith(t, testSetup{dbOpts: []models.OpenOption{models.WithBusyTimeout(100 * time.Millisecond)}})
	getReady(t, ts, http.StatusOK)
	noProbeLeftovers(t, ts)

	t.Run("read-only", func(t *testing.T) {
		sqlDB, err := ts.db.DB()
		if err != nil {
			t.Fatal(err)
		}
		sqlDB.SetMaxOpenConns(1) // the pragma then applies to every query
		defer sqlDB.SetMaxOpenConns(8)
		if err := ts.db.Exec("PRAGMA query_only = ON").Error; err != nil {
			t.Fatal(err)
		}
		getReady(t, ts, http.StatusServiceUnavailable)
		wantStatus(t, ts.client(t).get("/healthz"), http.StatusOK)
		if err := ts.db.Exec("PRAGMA query_only = OFF").Error; err != nil {
			t.Fatal(err)
		}
		getReady(t, ts, http.StatusOK)
	})

	t.Run("locked", func(t *testing.T) {
		locker, err := sql.Open("sqlite3", "file:"+ts.dbPath+"?_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Close()
		conn, err := locker.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		getReady(t, ts, http.StatusServiceUnavailable)
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		getReady(t, ts, http.StatusOK)
	})
	noProbeLeftovers(t, ts)
	if logs := ts.logs.String(); !strings.Contains(logs, "not ready: database unavailable") {
		t.Errorf("want a log line when readiness fails; log:\n%s", logs)
	}

	t.Run("replaced", func(t *testing.T) {
		replaceDatabaseFile(t, ts)
		getReady(t, ts, http.StatusServiceUnavailable)
		if logs := ts.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "replaced") {
			t.Errorf("want an ERROR line saying the file was replaced; log:\n%s", logs)
		}
	})

	t.Run("removed", func(t *testing.T) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(ts.dbPath + suffix); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		getReady(t, ts, http.StatusServiceUnavailable)
	})
}

// corruptFile checkpoints the WAL into the database file and overwrites
// every page but the first (the header) with garbage, as a failing disk or a
// stray write would, then drops the pool's idle connections so the next
// queries read the damage rather than cached pages.
func corruptFile(t *testing.T, ts *testServer) {
	t.Helper()
	if err := ts.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		t.Fatal(err)
	}
	var pageSize int64
	if err := ts.db.Raw("PRAGMA page_size").Scan(&pageSize).Error; err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(ts.dbPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", int(pageSize)/4))
	for off := pageSize; off < fi.Size(); off += pageSize {
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
	}
	sqlDB, err := ts.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxIdleConns(0)
	sqlDB.SetMaxIdleConns(8)
}

// TestCorruptDatabaseIsAnErrorNotBusy: a database damaged under the running
// server is answered 500 and logged as an ERROR naming the corruption, not a
// retryable 503, and /readyz fails.
func TestCorruptDatabaseIsAnErrorNotBusy(t *testing.T) {
	testdb.SkipOnPostgres(t, "corrupts the SQLite file")
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	getReady(t, ts, http.StatusOK)
	corruptFile(t, ts)
	// Past the file watcher's next check (every second): a damaged page
	// is not a removed or replaced file, so it must not turn every
	// request into a 503 until restart (it did, whenever the check ran
	// between the damage and the request).
	time.Sleep(1500 * time.Millisecond)

	res := ts.client(t).postForm("/accounts/login/", loginValues("alice", "correct horse battery"))
	wantStatus(t, res, http.StatusInternalServerError)
	if res.Header.Get("Retry-After") != "" {
		t.Error("corruption answered with Retry-After, as if retrying could help")
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "corrupt") {
		t.Fatalf("want an ERROR line naming the corruption; log:\n%s", logs)
	}
	getReady(t, ts, http.StatusServiceUnavailable)
}

// TestReadyzReady: on either database, /readyz answers 200 while the
// database works (its write is rolled back), and repeatedly.
func TestReadyzReady(t *testing.T) {
	ts := newTestServer(t)
	for range 3 {
		if res := getReady(t, ts, http.StatusOK); res.body != "ready" {
			t.Fatalf("got %q, want ready", res.body)
		}
	}
	if strings.Contains(ts.logs.String(), "not ready") {
		t.Fatalf("readiness failed on a working database:\n%s", ts.logs.String())
	}
}

// replaceDatabaseFile puts another (valid, empty) database file where the
// server's is, as a restore done behind its back would.
func replaceDatabaseFile(t *testing.T, ts *testServer) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other.db")
	odb, err := models.Open(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.Close(odb); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, ts.dbPath); err != nil {
		t.Fatal(err)
	}
}
