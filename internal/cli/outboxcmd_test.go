package cli

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// TestOutboxCommand: `outbox list` shows waiting mail and `--failed` the
// failed mail (ID, kind, recipient, attempts, error; never a body or a
// link); `outbox retry` puts failed mail back in the queue, by ID or all
// of it; bad input is a usage error.
func TestOutboxCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "outbox.db"), "HASH_CONCURRENCY": "1"}
	if out, err := runCmd(t, env, "", "outbox", "list"); err != nil || !strings.Contains(out, "0 waiting, 0 failed.") {
		t.Fatalf("outbox list on an empty outbox: got %v, %q", err, out)
	}
	ctx := context.Background()
	db, err := models.Open(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	outbox := models.NewOutbox(db)
	secret := "a payload secret that must not show"
	var ids []string
	for _, to := range []string{"ann@example.test", "bob@example.test", "cat@example.test"} {
		if err := outbox.Enqueue(ctx, models.KindPasswordChanged, nil, to, map[string]string{"username": secret}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the first two fail for good
		got, err := outbox.Claim(ctx, "test", 1, time.Minute)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %d (%v)", len(got), err)
		}
		if err := outbox.MarkFailed(ctx, &got[0], errors.New("451 try again later"), time.Time{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.FormatUint(uint64(got[0].ID), 10))
	}

	out, err := runCmd(t, env, "", "outbox", "list")
	if err != nil || !strings.Contains(out, "cat@example.test") || strings.Contains(out, "ann@example.test") || !strings.Contains(out, "1 waiting, 2 failed.") {
		t.Errorf("outbox list: got %v, %q, want cat's message waiting", err, out)
	}
	out, err = runCmd(t, env, "", "outbox", "list", "--failed")
	if err != nil || !strings.Contains(out, "ann@example.test") || !strings.Contains(out, "451 try again later") || strings.Contains(out, "cat@example.test") {
		t.Errorf("outbox list --failed: got %v, %q, want ann's and bob's with their error", err, out)
	}
	if strings.Contains(out, secret) {
		t.Error("outbox list shows a message's payload")
	}

	out, err = runCmd(t, env, "", "outbox", "retry", ids[0])
	if err != nil || !strings.Contains(out, "Queued 1 message(s)") {
		t.Errorf("outbox retry %s: got %v, %q", ids[0], err, out)
	}
	if s, _ := outbox.Stats(ctx); s.Pending != 2 || s.Failed != 1 {
		t.Errorf("after retrying one: got %+v, want 2 waiting, 1 failed", s)
	}
	out, err = runCmd(t, env, "", "outbox", "retry", "--failed")
	if err != nil || !strings.Contains(out, "Queued 1 message(s)") {
		t.Errorf("outbox retry --failed: got %v, %q", err, out)
	}
	if s, _ := outbox.Stats(ctx); s.Pending != 3 || s.Failed != 0 {
		t.Errorf("after retrying all: got %+v, want 3 waiting", s)
	}

	for _, args := range [][]string{
		{"outbox"}, {"outbox", "send"}, {"outbox", "retry"}, {"outbox", "retry", "x"}, {"outbox", "retry", "0"},
		{"outbox", "retry", "1", "--failed"}, {"outbox", "list", "1"}, {"outbox", "retry", "99999999999999999999"},
	} {
		var ue *usageError
		if _, err := runCmd(t, env, "", args...); !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}
