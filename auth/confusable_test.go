package auth

import (
	"context"
	"errors"
	"gatehouse/models"
	"strings"
	"testing"
)

// E-mail addresses are unique case-insensitively; accounts without one
// are not. Both creation and an admin's e-mail edit are held to it.
func TestUniqueEmails(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	root := mustCreate(t, users, models.NewUser{Username: "root", IsSuperuser: true})
	mustCreate(t, users, models.NewUser{Username: "alice", Email: "Alice@Example.com"})
	other := mustCreate(t, users, models.NewUser{Username: "other", Email: "other@example.com"})
	mustCreate(t, users, models.NewUser{Username: "nomail1"})
	mustCreate(t, users, models.NewUser{Username: "nomail2"})
	for _, e := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@example.COM"} {
		_, err := users.Create(ctx, models.NewUser{Username: "x" + strings.ToLower(e[:3]), Email: e, Password: "a long enough password"})
		if !errors.Is(err, models.ErrDuplicateEmail) {
			t.Errorf("Create with %q beside Alice@Example.com: got %v, want ErrDuplicateEmail", e, err)
		}
	}
	email := "ALICE@example.com"
	if _, err := NewAccounts(users.DB(), users.Hasher(), models.NewOutbox(users.DB()), Policy{}).AdminUpdate(ctx, root.ID, other.ID, UserChanges{Email: &email}); !errors.Is(err, models.ErrDuplicateEmail) {
		t.Errorf("admin sets other's address to %q: got %v, want ErrDuplicateEmail", email, err)
	}
	same := "other@example.com"
	on := true
	if _, err := NewAccounts(users.DB(), users.Hasher(), models.NewOutbox(users.DB()), Policy{}).AdminUpdate(ctx, root.ID, other.ID, UserChanges{Email: &same, IsStaff: &on}); err != nil {
		t.Errorf("admin edit keeping the address: %v", err)
	}
}
