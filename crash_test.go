package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// crashEnv is what a crash test run shares with its workloads.
type crashEnv struct {
	bin    string   // the built gatehouse binary
	env    []string // its environment (database, address, limits)
	dbPath string
}

// receipt is a write the app answered as done, with a check, run after the
// crash and restart, that it is still there.
type receipt struct {
	what  string
	check func(t *testing.T, base string, db *sql.DB) error
}

// crashWorkload is one kind of write run against the server while it is
// killed. step performs one attempt (number i) and returns a receipt when
// the app answered success, nil when it did not (say, the server was gone).
type crashWorkload struct {
	name    string
	workers int
	step    func(ctx context.Context, e *crashEnv, base string, i int) *receipt
}

const crashPassword = "crash test password 1"

var crashWorkloads = []crashWorkload{
	{
		// Logins write a session row (and last_login and an event); the
		// cookie of every login answered 303 must still sign in after.
		name: "login", workers: 4,
		step: func(ctx context.Context, e *crashEnv, base string, i int) *receipt {
			user := fmt.Sprintf("seed%d", i%3)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/accounts/login/",
				strings.NewReader(url.Values{"username": {user}, "password": {crashPassword}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := noRedirects.Do(req)
			if err != nil {
				return nil
			}
			res.Body.Close()
			var cookie *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == "sessionid" && c.Value != "" {
					cookie = c
				}
			}
			if res.StatusCode != http.StatusSeeOther || cookie == nil {
				return nil
			}
			return &receipt{what: "session of login " + user, check: func(t *testing.T, base string, _ *sql.DB) error {
				req, _ := http.NewRequest(http.MethodGet, base+"/accounts/profile/", nil)
				req.AddCookie(cookie)
				res, err := noRedirects.Do(req)
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || !strings.Contains(string(body), user) {
					return fmt.Errorf("profile with the session cookie: got status %d, want 200 showing %s", res.StatusCode, user)
				}
				return nil
			}}
		},
	},
	{
		// Sign-ups write a user row, a session and an event; every one
		// answered 303 must leave an account that can log in after.
		name: "signup", workers: 4,
		step: func(ctx context.Context, e *crashEnv, base string, i int) *receipt {
			name := fmt.Sprintf("signup%d", i)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/accounts/signup/", strings.NewReader(url.Values{
				"username": {name}, "email": {name + "@example.com"}, "password1": {crashPassword}, "password2": {crashPassword},
			}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := noRedirects.Do(req)
			if err != nil {
				return nil
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				return nil
			}
			return &receipt{what: "signup of " + name, check: func(t *testing.T, base string, db *sql.DB) error {
				var n int
				if err := db.QueryRow("SELECT count(*) FROM users WHERE username = ?", name).Scan(&n); err != nil {
					return err
				}
				if n != 1 {
					return fmt.Errorf("got %d user rows, want 1", n)
				}
				res, err := noRedirects.PostForm(base+"/accounts/login/", url.Values{"username": {name}, "password": {crashPassword}})
				if err != nil {
					return err
				}
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther {
					return fmt.Errorf("login after restart: got status %d, want 303", res.StatusCode)
				}
				return nil
			}}
		},
	},
	{
		// Accounts made by the createsuperuser subcommand: a second
		// process writing the same database.
		name: "createsuperuser", workers: 2,
		step: func(ctx context.Context, e *crashEnv, _ string, i int) *receipt {
			name := fmt.Sprintf("created%d", i)
			cmd := exec.CommandContext(ctx, e.bin, "createsuperuser", "--username", name, "--email", name+"@example.com", "--password-stdin")
			cmd.Env = e.env
			cmd.Stdin = strings.NewReader(crashPassword + "\n")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "created successfully") {
				return nil
			}
			return &receipt{what: "user " + name, check: func(t *testing.T, _ string, db *sql.DB) error {
				var n int
				if err := db.QueryRow("SELECT count(*) FROM users WHERE username = ?", name).Scan(&n); err != nil {
					return err
				}
				if n != 1 {
					return fmt.Errorf("got %d rows, want 1", n)
				}
				return nil
			}}
		},
	},
}

var noRedirects = &http.Client{Timeout: 20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestCrashSafety builds the real binary, runs concurrent writes against it,
// kills it with SIGKILL mid-flight, restarts it on the same database, and
// checks the database is intact and every write answered as done is there.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	e := &crashEnv{bin: gatehouseBinary(t), dbPath: filepath.Join(dir, "gatehouse.db")}
	e.env = append(os.Environ(), "ADDR=127.0.0.1:0", "DATABASE_URL="+e.dbPath, "LOG_LEVEL=warn",
		"HASH_CONCURRENCY=2", "HASH_QUEUE_TIMEOUT=30s", "LOGIN_LIMIT_PER_USER_IP=off", "LOGIN_LIMIT_PER_IP=off",
		"SIGNUP_LIMIT_PER_IP=off", "SIGNUP_CHECK_LIMIT_PER_IP=off")
	for i := range 3 {
		cmd := exec.Command(e.bin, "createsuperuser", "--username", fmt.Sprintf("seed%d", i), "--password-stdin")
		cmd.Env, cmd.Stdin = e.env, strings.NewReader(crashPassword+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("seed user: %v\n%s", err, out)
		}
	}

	srv, base := startGatehouse(t, e)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		mu       sync.Mutex
		receipts []*receipt
		counts   = map[string]*atomic.Int64{}
		wg       sync.WaitGroup
		serial   atomic.Int64
	)
	for _, w := range crashWorkloads {
		counts[w.name] = &atomic.Int64{}
		for range w.workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					if r := w.step(ctx, e, base, int(serial.Add(1))); r != nil {
						counts[w.name].Add(1)
						mu.Lock()
						receipts = append(receipts, r)
						mu.Unlock()
					}
				}
			})
		}
	}
	// Kill once every workload has had some successes, with requests in
	// flight.
	deadline := time.Now().Add(60 * time.Second)
	for {
		enough := true
		for _, w := range crashWorkloads {
			enough = enough && counts[w.name].Load() >= 3
		}
		if enough {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workloads made too little progress before the kill: %v", snapshot(counts))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	// Let the workers notice; in-flight createsuperuser processes finish on
	// their own and count only if they said so.
	time.Sleep(100 * time.Millisecond)
	stop()
	wg.Wait()
	t.Logf("answered as done before the kill: %v", snapshot(counts))

	db, err := sql.Open("sqlite3", "file:"+e.dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: got %q (%v), want ok", integrity, err)
	}

	srv2, base2 := startGatehouse(t, e)
	defer func() { _ = srv2.Process.Signal(syscall.SIGTERM); _ = srv2.Wait() }()
	for _, r := range receipts {
		if err := r.check(t, base2, db); err != nil {
			t.Errorf("%s lost after the crash: %v", r.what, err)
		}
	}
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after restart: got %q (%v), want ok", integrity, err)
	}
}

func snapshot(m map[string]*atomic.Int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = v.Load()
	}
	return out
}

// startGatehouse starts the binary and waits for its listening line.
func startGatehouse(t *testing.T, e *crashEnv) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(e.bin)
	cmd.Env = e.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("server stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "Gatehouse listening on "); ok {
				lines <- strings.TrimSuffix(addr, "/")
			}
		}
	}()
	select {
	case base := <-lines:
		return cmd, base
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start; stderr:\n%s", stderr.String())
	}
	return nil, ""
}
