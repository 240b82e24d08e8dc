package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// openTestAccounts returns the flows over a fresh database, with login
// limits off unless the policy sets them.
func openTestAccounts(t *testing.T, p Policy) (*Accounts, *models.Users) {
	t.Helper()
	db := openTestDB(t)
	h := passhash.NewHasher(cheap, 2, time.Second)
	return NewAccounts(db, h, models.NewOutbox(db), p), models.NewUsers(db, h)
}

func TestLoginVerify(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	u, err := users.Create(context.Background(), models.NewUser{Username: "dave", Email: "d@example.com", Password: "correct-horse-battery"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Login(context.Background(), LoginInput{Username: "DAVE", Password: "correct-horse-battery"}); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, tc := range []struct{ user, pw string }{{"dave", "wrong"}, {"nobody", "x"}, {"dave\x00", "correct-horse-battery"}, {"dave", strings.Repeat("x", 5000)}} {
		if _, err := acc.Login(context.Background(), LoginInput{Username: tc.user, Password: tc.pw}); !errors.Is(err, models.ErrInvalidCredentials) {
			t.Errorf("Login(%.10q, %.10q): got %v, want ErrInvalidCredentials", tc.user, tc.pw, err)
		}
	}
	if err := users.DB().Model(u).Update("is_active", false).Error; err != nil {
		t.Fatal(err)
	}
	// An inactive account is told so only after the right password
	// (usability, round three); a wrong one gets the generic answer.
	if _, err := acc.Login(context.Background(), LoginInput{Username: "dave", Password: "correct-horse-battery"}); !errors.Is(err, models.ErrAccountInactive) {
		t.Errorf("inactive user, right password: got %v, want ErrAccountInactive", err)
	}
	if _, err := acc.Login(context.Background(), LoginInput{Username: "dave", Password: "wrong"}); !errors.Is(err, models.ErrInvalidCredentials) {
		t.Errorf("inactive user, wrong password: got %v, want ErrInvalidCredentials", err)
	}
}
