package main

import (
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/mail/mailtest"
)

// TestOutboxSurvivesKill queues mail while the SMTP server is unreachable,
// SIGKILLs the real binary, restarts it with the server up, and checks that
// every mail arrives exactly once: the outbox is rows in the database, not
// memory, so a crash or deploy loses none.
func TestOutboxSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	e := &crashEnv{bin: gatehouseBinary(t), dbPath: filepath.Join(dir, "gatehouse.db")}
	// An address where nothing listens: the port of a closed listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	base := append(os.Environ(), "ADDR=127.0.0.1:0", "DATABASE_URL="+e.dbPath, "LOG_LEVEL=warn",
		"PASSWORD_RESET_LIMIT_PER_EMAIL=off", "PASSWORD_RESET_LIMIT_PER_IP=off")
	e.env = append(base, "SMTP_URL=smtp://"+deadAddr)
	const users = 6
	for i := range users {
		cmd := exec.Command(e.bin, "createsuperuser", "--username", fmt.Sprintf("user%d", i), "--email", fmt.Sprintf("user%d@example.test", i), "--password-stdin")
		cmd.Env, cmd.Stdin = e.env, strings.NewReader(crashPassword+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("seed user: %v\n%s", err, out)
		}
	}
	srv, addr := startGatehouse(t, e)
	for i := range users {
		res, err := noRedirects.PostForm(addr+"/accounts/password_reset/", url.Values{"email": {fmt.Sprintf("user%d@example.test", i)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset request: got %d, want 303", res.StatusCode)
		}
	}
	// Wait until the worker has turned every request into a mail and has
	// tried (and failed) to send some, then kill it.
	db, err := sql.Open("sqlite3", "file:"+e.dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitUntil(t, "reset mails queued and attempted", func() bool {
		var queued, tried int
		_ = db.QueryRow("SELECT count(*), coalesce(sum(attempts > 0), 0) FROM outbox_messages WHERE kind = 'password_reset' AND sent_at IS NULL").Scan(&queued, &tried)
		return queued == users && tried > 0
	})
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()

	smtp := mailtest.NewServer(t, mailtest.Options{})
	e.env = append(base, "SMTP_URL="+smtp.URL())
	srv2, _ := startGatehouse(t, e)
	defer func() { _ = srv2.Process.Signal(syscall.SIGTERM); _ = srv2.Wait() }()
	got := map[string]int{}
	for range users {
		m := smtp.Next(t, 90*time.Second)
		got[m.To[0]]++
	}
	smtp.None(t, 2*time.Second)
	for i := range users {
		if to := fmt.Sprintf("user%d@example.test", i); got[to] != 1 {
			t.Errorf("%s: got %d reset mails, want exactly 1 (all: %v)", to, got[to], got)
		}
	}
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
