package models

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestResetPasswordConsumesOnce lines up parallel uses of one token after
// all of them passed the check, so only the conditional UPDATE can decide:
// exactly one wins.
func TestResetPasswordConsumesOnce(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	u, err := users.Create(ctx, NewUser{Username: "nina", Email: "nina@example.com", Password: "nina's long password"})
	if err != nil {
		t.Fatal(err)
	}
	resets := NewPasswordResets(users.db)
	token, err := resets.Create(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := ResetTokenHash(token)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	beforeConsume = func() { arrived.Done(); <-release }
	t.Cleanup(func() { beforeConsume = nil })
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = users.ResetPassword(ctx, hash, "a new password number "+string(rune('a'+i))) })
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrInvalidToken):
			t.Errorf("use %d: got %v, want nil or ErrInvalidToken", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("got %d successful uses, want 1", wins)
	}
}

func TestResetTokenHashRejectsMalformed(t *testing.T) {
	for _, tok := range []string{"", "abc", string(make([]byte, 43)), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
		if _, err := ResetTokenHash(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ResetTokenHash(%q): got %v, want ErrInvalidToken", tok, err)
		}
	}
}

// TestSetPasswordVoidsResetTokens: a link mailed before a password change
// does not work after it.
func TestSetPasswordVoidsResetTokens(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	u, err := users.Create(ctx, NewUser{Username: "otto", Email: "otto@example.com", Password: "otto's long password"})
	if err != nil {
		t.Fatal(err)
	}
	resets := NewPasswordResets(users.db)
	token, _ := resets.Create(ctx, u.ID, time.Hour)
	hash, _ := ResetTokenHash(token)
	if _, err := resets.Check(ctx, hash); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if err := users.SetPassword(ctx, u, "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := resets.Check(ctx, hash); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after SetPassword: got %v, want ErrInvalidToken", err)
	}
}
