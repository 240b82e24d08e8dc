package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// withDatabaseTimeout sets DATABASE_BUSY_TIMEOUT's request deadline.
func withDatabaseTimeout(d time.Duration) func(*Config) {
	return func(c *Config) { c.DatabaseTimeout = d }
}

// TestLockedUsersTableAnswers503InTime: with the users table locked by
// another session on PostgreSQL (a stuck migration, an admin's open
// transaction), a login and a sign-up each answer the 503 page with
// Retry-After within about DATABASE_BUSY_TIMEOUT instead of hanging, and
// once the lock is gone no half-done sign-up is left and both work.
func TestLockedUsersTableAnswers503InTime(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("locks a PostgreSQL table from a second connection (TEST_DATABASE_URL)")
	}
	const timeout = 1500 * time.Millisecond
	ts := newTestServer(t, withDatabaseTimeout(timeout))
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	locker, err := sql.Open("pgx", ts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	signup := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password1": {"bob's long password"}, "password2": {"bob's long password"}}
	for name, post := range map[string]func() *response{
		"login": func() *response {
			return ts.client(t).postForm("/accounts/login/", loginValues("alice", "correct horse battery"))
		},
		"sign-up": func() *response { return ts.client(t).postForm("/accounts/signup/", signup) },
	} {
		start := time.Now()
		res := post()
		took := time.Since(start)
		wantUnavailable(t, res, false)
		if took > timeout+2*time.Second {
			t.Errorf("%s answered after %s; want about %s", name, took, timeout)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := ts.db.Model(&models.User{}).Where("username_key = ?", "bob").Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("a sign-up answered 503 left %d accounts (%v)", n, err)
	}
	wantRedirect(t, ts.client(t).postForm("/accounts/signup/", signup), "/")
	ts.client(t).login("alice", "correct horse battery")
}

// TestTerminatedBackendsAnswer503: PostgreSQL backends killed under load
// (an admin's pg_terminate_backend, a server restart) give 503s, never a
// 500, on logins, sign-ups and signed-in pages; service resumes by itself.
func TestTerminatedBackendsAnswer503(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("terminates PostgreSQL backends (TEST_DATABASE_URL)")
	}
	ts := newTestServer(t, withDatabaseTimeout(2*time.Second))
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	signedIn := ts.client(t)
	signedIn.login("alice", "correct horse battery")
	killer, err := sql.Open("pgx", ts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close()
	killer.SetMaxOpenConns(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var res *response
				switch (w + i) % 3 {
				case 0:
					res = ts.client(t).postForm("/accounts/login/", loginValues("alice", "correct horse battery"))
				case 1:
					name := "u" + itoa(uint(w*100000+i))
					res = ts.client(t).postForm("/accounts/signup/", url.Values{"username": {name}, "email": {name + "@example.com"},
						"password1": {"a long enough password"}, "password2": {"a long enough password"}})
				default:
					res = signedIn.get("/accounts/profile/")
				}
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		// Every backend but the killer's own.
		if _, err := killer.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Logf("terminate: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("statuses under terminations: %v", statuses)
	for status, n := range statuses {
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("got %d answers with status %d; want 503 for a lost connection", n, status)
		}
	}
	// Service resumes by itself.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := signedIn.get("/accounts/profile/")
		if res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not resume: status %d", res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplacedFileAnswers503: when the SQLite file is replaced under the
// running server (its handles still point at the old, unlinked file), the
// server notices within seconds and answers 503 to every request that
// would touch the database, with an ERROR line saying what happened,
// instead of acknowledging writes that would be lost.
func TestReplacedFileAnswers503(t *testing.T) {
	testdb.SkipOnPostgres(t, "replaces the SQLite file")
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	replaceDatabaseFile(t, ts)
	signup := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password1": {"bob's long password"}, "password2": {"bob's long password"}}
	var res *response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res = ts.client(t).get("/accounts/login/?next=/x"); res.StatusCode == http.StatusServiceUnavailable {
			break
		}
	}
	wantUnavailable(t, res, false)
	wantUnavailable(t, ts.client(t).postForm("/accounts/signup/", signup), false)
	if logs := ts.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "removed or replaced") {
		t.Errorf("want an ERROR line saying the file was replaced; log:\n%s", logs)
	}
}

// TestBackgroundQuickCheckFindsDamage: a damaged page that the readiness
// probe's one-row read never touches is found by the background
// quick_check, and /readyz turns 503.
func TestBackgroundQuickCheckFindsDamage(t *testing.T) {
	testdb.SkipOnPostgres(t, "damages the SQLite file")
	ts := newTestServer(t, func(c *Config) { c.IntegrityCheckEvery = 200 * time.Millisecond })
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	// Fill another table so it has pages of its own, then damage its root.
	for i := range 200 {
		if err := ts.db.Create(&models.AuthEvent{Kind: models.EventLoginFailed, Detail: strings.Repeat("x", 200) + itoa(uint(i)), CreatedAt: time.Now()}).Error; err != nil {
			t.Fatal(err)
		}
	}
	getReady(t, ts, http.StatusOK)
	if err := ts.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		t.Fatal(err)
	}
	var pageSize, root int64
	ts.db.Raw("PRAGMA page_size").Scan(&pageSize)
	ts.db.Raw("SELECT rootpage FROM sqlite_master WHERE name = 'auth_events'").Scan(&root)
	f, err := os.OpenFile(ts.dbPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", int(pageSize)/4)), (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sqlDB, _ := ts.db.DB()
	sqlDB.SetMaxIdleConns(0)
	sqlDB.SetMaxIdleConns(8)
	getReady(t, ts, http.StatusServiceUnavailable)
	if logs := ts.logs.String(); !strings.Contains(logs, "quick_check failed") {
		t.Errorf("want a log line for the failed quick_check; log:\n%s", logs)
	}
}
