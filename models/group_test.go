package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"
)

func TestGroupNames(t *testing.T) {
	for name, bad := range map[string]bool{
		"ops": false, "Ops Team": false, "équipe": false, strings.Repeat("g", 150): false,
		"": true, " ops": true, "ops ": true, "a,b": true, `a"b`: true, `a\b`: true,
		strings.Repeat("g", 151): true, "a\x00b": true, "a\u200bb": true,
	} {
		if got := ValidateGroupName(name) != ""; got != bad {
			t.Errorf("ValidateGroupName(%q): refused %v, want %v", name, got, bad)
		}
	}
}

// TestGroupMemberships: groups are created once even by a parallel burst,
// memberships are added, listed, replaced and removed, and deleting a user
// or a group deletes its memberships.
func TestGroupMemberships(t *testing.T) {
	ctx := context.Background()
	users := openTestUsers(t)
	db := users.DB()
	groups := NewGroups(db)
	var ids []uint
	for i := range 3 {
		u, err := users.Create(ctx, NewUser{Username: fmt.Sprint("member", i), Email: fmt.Sprint("member", i, "@example.com"), Password: "a long enough passphrase"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var wg sync.WaitGroup
	created := make(chan bool, 16)
	for range 16 {
		wg.Go(func() {
			err := db.Transaction(func(tx *gorm.DB) error {
				_, c, err := EnsureGroup(tx, "ops")
				created <- c
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a burst of 16 EnsureGroup calls created %d groups, want 1", n)
	}
	ops, err := groups.ByName(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	var dev *Group
	if err := db.Transaction(func(tx *gorm.DB) error {
		var err error
		if dev, _, err = EnsureGroup(tx, "dev"); err != nil {
			return err
		}
		if n, err := AddMembers(tx, ops.ID, []uint{ids[0], ids[1], ids[0]}); err != nil || n != 2 {
			return fmt.Errorf("add: %d, %v", n, err)
		}
		if n, err := AddMembers(tx, ops.ID, []uint{ids[1], ids[2]}); err != nil || n != 1 {
			return fmt.Errorf("add again: %d, %v", n, err)
		}
		return SetUserGroups(tx, ids[0], []uint{dev.ID, ops.ID})
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := groups.NamesOf(ctx, ids[0]); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Errorf("groups of member0: %v", got)
	}
	if got, _ := groups.Members(ctx, ops.ID); !slices.Equal(got, []string{"member0", "member1", "member2"}) {
		t.Errorf("members of ops: %v", got)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return SetUserGroups(tx, ids[0], nil) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := groups.NamesOf(ctx, ids[0]); len(got) != 0 {
		t.Errorf("after clearing: %v", got)
	}
	if err := db.Transaction(func(tx *gorm.DB) error {
		n, err := RemoveMembers(tx, ops.ID, []uint{ids[1]})
		if n != 1 {
			return fmt.Errorf("removed %d", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(&User{}, ids[2]).Error; err != nil {
		t.Fatal(err)
	}
	list, err := groups.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "dev" || list[0].Members != 0 || list[1].Name != "ops" || list[1].Members != 0 {
		t.Fatalf("after removing and deleting: %+v, %v", list, err)
	}
	if err := db.Delete(&Group{}, dev.ID).Error; err != nil {
		t.Fatal(err)
	}
	var left int64
	db.Model(&UserGroup{}).Count(&left)
	if left != 0 {
		t.Errorf("%d memberships left", left)
	}
}
