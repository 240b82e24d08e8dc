package auth

import (
	"context"
	"errors"
	"gatehouse/models"
	"sync"
	"testing"
)

// TestAdminUpdateDemotionRace lines two superusers up past every check made
// outside the transaction, each demoting the other. The immediate
// transaction serialises them and the second re-reads its actor, no longer a
// superuser: exactly one wins and an active superuser remains.
func TestAdminUpdateDemotionRace(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	a := mustCreate(t, users, models.NewUser{Username: "ada", IsSuperuser: true})
	b := mustCreate(t, users, models.NewUser{Username: "bob", IsSuperuser: true})
	var arrived sync.WaitGroup
	arrived.Add(2)
	beforeAdminWrite = func() { arrived.Done(); arrived.Wait() }
	t.Cleanup(func() { beforeAdminWrite = nil })

	off := false
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, pair := range [][2]uint{{a.ID, b.ID}, {b.ID, a.ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = acc.AdminUpdate(context.Background(), pair[0], pair[1], UserChanges{IsSuperuser: &off})
		}()
	}
	wg.Wait()
	won, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrNotAllowed):
			refused++
		default:
			t.Errorf("got error %v, want nil or ErrNotAllowed", err)
		}
	}
	if won != 1 || refused != 1 {
		t.Fatalf("got %d successes and %d refusals (%v), want 1 and 1", won, refused, errs)
	}
	if n, err := users.CountActiveSuperusers(context.Background()); err != nil || n != 1 {
		t.Fatalf("got %d active superusers (err %v), want 1", n, err)
	}
}

func TestAdminRules(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	ctx := context.Background()
	root := mustCreate(t, users, models.NewUser{Username: "root", IsSuperuser: true})
	staff := mustCreate(t, users, models.NewUser{Username: "staff", IsStaff: true})
	plain := mustCreate(t, users, models.NewUser{Username: "plain"})
	on, off := true, false
	email := "new@example.com"
	for _, tc := range []struct {
		name          string
		actor, target uint
		ch            UserChanges
		want          error
	}{
		{"staff edits a user's e-mail", staff.ID, plain.ID, UserChanges{Email: &email}, nil},
		{"staff deactivates a user", staff.ID, plain.ID, UserChanges{IsActive: &off}, nil},
		{"staff grants staff", staff.ID, plain.ID, UserChanges{IsStaff: &on}, ErrNotAllowed},
		{"staff removes own staff", staff.ID, staff.ID, UserChanges{IsStaff: &off}, ErrNotAllowed},
		{"staff edits a superuser", staff.ID, root.ID, UserChanges{Email: &email}, ErrNotAllowed},
		{"plain user edits", plain.ID, plain.ID, UserChanges{Email: &email}, ErrNotAllowed},
		{"superuser removes own superuser", root.ID, root.ID, UserChanges{IsSuperuser: &off}, ErrOwnSuperuser},
		{"superuser deactivates self", root.ID, root.ID, UserChanges{IsActive: &off}, ErrDeactivateSelf},
		{"superuser grants superuser", root.ID, staff.ID, UserChanges{IsSuperuser: &on}, nil},
		{"unknown actor", 9999, plain.ID, UserChanges{Email: &email}, ErrNotAllowed},
		{"unknown target", root.ID, 9999, UserChanges{Email: &email}, models.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := acc.AdminUpdate(ctx, tc.actor, tc.target, tc.ch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A superuser is always staff, whatever the form says.
	res, err := acc.AdminUpdate(ctx, root.ID, staff.ID, UserChanges{IsStaff: &off})
	if err != nil || !res.After.IsStaff || !res.After.IsSuperuser {
		t.Fatalf("got %+v, %v; want the superuser kept staff", res, err)
	}
	if _, err := acc.AdminDelete(ctx, root.ID, root.ID); !errors.Is(err, ErrDeleteSelf) {
		t.Fatalf("delete self: got %v, want ErrDeleteSelf", err)
	}
}

// TestAdminRightsCheckedInTheWrite: a staff member's rights are checked in
// the transaction that makes the change, against the rows as they are
// then. A target promoted to superuser after the form was shown (here:
// between the hash and the write) is out of reach.
func TestAdminRightsCheckedInTheWrite(t *testing.T) {
	acc, users := openTestAccounts(t, Policy{})
	ctx := context.Background()
	staff := mustCreate(t, users, models.NewUser{Username: "staff", IsStaff: true})
	target := mustCreate(t, users, models.NewUser{Username: "target", Email: "target@example.com"})
	beforeAdminWrite = func() {
		if err := users.DB().Model(&models.User{}).Where("id = ?", target.ID).Updates(map[string]any{"is_staff": true, "is_superuser": true}).Error; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeAdminWrite = nil })
	_, err := acc.AdminSetPassword(ctx, staff.ID, target.ID, "a password staff chose", "a password staff chose")
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("set a new superuser's password: got %v, want ErrNotAllowed", err)
	}
	if _, _, err := acc.verify(ctx, "target", "a long enough password"); err != nil {
		t.Fatalf("the target's password changed: %v", err)
	}
}
