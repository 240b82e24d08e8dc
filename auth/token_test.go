package auth

import (
	"context"
	"errors"
	"gatehouse/models"
	"sync"
	"testing"
	"time"
)

// issueReset issues a reset token for u and returns its hash.
func issueReset(t *testing.T, acc *Accounts, u *models.User, ttl time.Duration) string {
	t.Helper()
	token, err := models.NewTokens(acc.db).Issue(context.Background(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := models.TokenHash(token)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

// TestResetPasswordConsumesOnce lines up parallel uses of one token after
// all of them passed the check, so only the conditional UPDATE can decide:
// exactly one wins.
func TestResetPasswordConsumesOnce(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	ctx := context.Background()
	u, err := users.Create(ctx, models.NewUser{Username: "nina", Email: "nina@example.com", Password: "nina's long password"})
	if err != nil {
		t.Fatal(err)
	}
	hash := issueReset(t, acc, u, time.Hour)
	const n = 5
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	beforeConsume = func() { arrived.Done(); <-release }
	t.Cleanup(func() { beforeConsume = nil })
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		pw := "a new password number " + string(rune('a'+i))
		wg.Go(func() { _, errs[i] = acc.ResetPassword(ctx, hash, pw, pw, "") })
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, models.ErrInvalidToken):
			t.Errorf("use %d: got %v, want nil or ErrInvalidToken", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("got %d successful uses, want 1", wins)
	}
}

// TestTokenPurposeIsChecked: a token is only good for what it was issued for.
func TestTokenPurposeIsChecked(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	ctx := context.Background()
	u := mustCreate(t, users, models.NewUser{Username: "pia", Email: "pia@example.com"})
	token, err := models.NewTokens(acc.db).Issue(ctx, models.TokenIssue{Purpose: "email_confirm", UserID: u.ID, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := models.TokenHash(token)
	if _, err := models.NewTokens(acc.db).Check(ctx, models.PurposePasswordReset, hash); !errors.Is(err, models.ErrInvalidToken) {
		t.Fatalf("checked for another purpose: got %v, want ErrInvalidToken", err)
	}
	if _, err := models.NewTokens(acc.db).Check(ctx, "email_confirm", hash); err != nil {
		t.Fatalf("checked for its purpose: %v", err)
	}
}

// TestChangesVoidTokens: a link mailed before a change of password, e-mail
// address or active status does not work after it, whichever flow made the
// change.
func TestChangesVoidTokens(t *testing.T) {
	ctx := context.Background()
	email, off := "new-address@example.com", false
	for _, tc := range []struct {
		name   string
		change func(acc *Accounts, root, u *models.User) error
	}{
		{"password change", func(acc *Accounts, _, u *models.User) error {
			_, err := acc.ChangePassword(ctx, ChangePasswordInput{User: &u.SessionUser, Old: "a long enough password",
				New1: "another long password", New2: "another long password"})
			return err
		}},
		{"password set by staff", func(acc *Accounts, root, u *models.User) error {
			_, err := acc.AdminSetPassword(ctx, root.ID, u.ID, "another long password", "another long password")
			return err
		}},
		{"password set by command", func(acc *Accounts, _, u *models.User) error {
			_, _, err := acc.SetPasswordByCommand(ctx, u.Username, "another long password")
			return err
		}},
		{"e-mail changed by staff", func(acc *Accounts, root, u *models.User) error {
			_, err := acc.AdminUpdate(ctx, root.ID, u.ID, UserChanges{Email: &email})
			return err
		}},
		{"deactivated by staff", func(acc *Accounts, root, u *models.User) error {
			_, err := acc.AdminUpdate(ctx, root.ID, u.ID, UserChanges{IsActive: &off})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, users := openTestAccounts(t, Policy{})
			root := mustCreate(t, users, models.NewUser{Username: "root", IsSuperuser: true})
			u := mustCreate(t, users, models.NewUser{Username: "otto", Email: "otto@example.com"})
			hash := issueReset(t, acc, u, time.Hour)
			if err := tc.change(acc, root, u); err != nil {
				t.Fatal(err)
			}
			if _, err := models.NewTokens(acc.db).Check(ctx, models.PurposePasswordReset, hash); !errors.Is(err, models.ErrInvalidToken) {
				t.Fatalf("after the change: got %v, want ErrInvalidToken", err)
			}
		})
	}
}
