package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// Two superusers demote each other from two pools, both held inside their
// transactions after their write and before the last-superuser check. One
// must win and one active superuser remain. Without serializeAdminWrites,
// on PostgreSQL both count the other still a superuser and both commit.
func TestSuperuserGuardRaceTwoPools(t *testing.T) {
	db1, db2 := openTwoPools(t)
	hasher := passhash.NewHasher(cheap, 2, 30*time.Second)
	u1 := models.NewUsers(db1, hasher)
	acc1, acc2 := NewAccounts(db1, hasher, models.NewOutbox(db1), Policy{}), NewAccounts(db2, hasher, models.NewOutbox(db2), Policy{})
	a := mustCreate(t, u1, models.NewUser{Username: "ada", IsSuperuser: true})
	b := mustCreate(t, u1, models.NewUser{Username: "bob", IsSuperuser: true})

	// Each edit waits here for the other, but not forever: when the edits
	// are serialised the second cannot arrive until the first commits.
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	inAdminWrite = func() {
		arrived.Done()
		select {
		case <-both:
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Cleanup(func() { inAdminWrite = nil })

	off := false
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, op := range []struct {
		accounts      *Accounts
		actor, target uint
	}{{acc1, a.ID, b.ID}, {acc2, b.ID, a.ID}} {
		wg.Go(func() {
			_, errs[i] = op.accounts.AdminUpdate(context.Background(), op.actor, op.target, UserChanges{IsSuperuser: &off})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrNotAllowed), errors.Is(err, ErrLastSuperuser):
		default:
			t.Errorf("got error %v, want nil, ErrNotAllowed or ErrLastSuperuser", err)
		}
	}
	if won != 1 {
		t.Errorf("got %d successful demotions (%v), want exactly 1", won, errs)
	}
	if n, err := u1.CountActiveSuperusers(context.Background()); err != nil || n != 1 {
		t.Fatalf("got %d active superusers (err %v), want 1", n, err)
	}
}
