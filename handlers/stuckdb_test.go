package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
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
		"login":   func() *response { return ts.client(t).postForm("/accounts/login/", loginValues("alice", "correct horse battery")) },
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
