package auth

import (
	"context"
	"errors"
	"sync"
	"testing"

	"gatehouse/models"
)

// TestPasswordFlowsRefuseAChangeMeanwhile: the flows that check the
// signed-in user's password (re-authentication, deleting the account,
// changing the password) read the hash from the user's row themselves —
// the session's user does not carry it — and require it unchanged in the
// transaction that writes. A password changed while the old one is being
// verified (the hasher's observer changes it, between the check and the
// write) makes them refuse, and none of them writes.
func TestPasswordFlowsRefuseAChangeMeanwhile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(acc *Accounts, u *models.User, sessionID string) error
	}{
		{"re-authentication", func(acc *Accounts, u *models.User, sessionID string) error {
			_, err := acc.Reauthenticate(ctx, ReauthInput{User: &u.SessionUser, SessionID: sessionID, Password: "a long enough password"})
			return err
		}},
		{"delete account", func(acc *Accounts, u *models.User, _ string) error {
			return acc.DeleteOwnAccount(ctx, DeleteAccountInput{User: &u.SessionUser, Password: "a long enough password"})
		}},
		{"change password", func(acc *Accounts, u *models.User, sessionID string) error {
			_, err := acc.ChangePassword(ctx, ChangePasswordInput{User: &u.SessionUser, SessionID: sessionID, Old: "a long enough password",
				New1: "yet another long password", New2: "yet another long password"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, users := openTestAccounts(t, Policy{})
			u := mustCreate(t, users, models.NewUser{Username: "mira", Email: "mira@example.com"})
			res, err := acc.Login(ctx, LoginInput{Username: "mira", Password: "a long enough password"})
			if err != nil {
				t.Fatal(err)
			}
			meanwhile, err := acc.hasher.Hash(ctx, "changed meanwhile, elsewhere")
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			acc.hasher.ObserveVerify(func(string) {
				once.Do(func() {
					if err := users.DB().Model(&models.User{}).Where("id = ?", u.ID).Update("password", meanwhile).Error; err != nil {
						t.Error(err)
					}
				})
			})
			if err := tc.run(acc, u, res.Session.State.ID); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("password changed during the check: got %v, want ErrWrongPassword", err)
			}
			after, err := users.ByID(ctx, u.ID)
			if err != nil {
				t.Fatalf("the account after the refusal: %v", err)
			}
			if after.Password != meanwhile {
				t.Error("the refused flow wrote the password")
			}
			var raised int64
			if err := users.DB().Model(&models.Session{}).Where("user_id = ? AND id <> ?", u.ID, res.Session.State.ID).Count(&raised).Error; err != nil {
				t.Fatal(err)
			}
			if raised != 0 {
				t.Errorf("the refused flow made %d new sessions", raised)
			}
		})
	}
}
