package cli

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// TestGroupCommand: `group add` creates the group when missing and adds
// members (an unknown username changes nothing), `group remove` takes them
// out, `group list` lists groups and one group's members, every change is
// a security event, and bad command lines are usage errors.
func TestGroupCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "groups.db"), "HASH_CONCURRENCY": "1"}
	if out, err := runCmd(t, env, "", "group", "list"); err != nil || !strings.Contains(out, "No groups.") {
		t.Fatalf("group list on no groups: got %v, %q", err, out)
	}
	ctx := context.Background()
	db, err := models.Open(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	users := models.NewUsers(db, passhash.NewHasher(passhash.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4, 5*time.Second))
	for _, n := range []string{"ann", "bob", "cat"} {
		if _, err := users.Create(ctx, models.NewUser{Username: n, Email: n + "@example.test", Password: "a long enough passphrase"}); err != nil {
			t.Fatal(err)
		}
	}
	groups := models.NewGroups(db)
	namesOf := func(user string) []string {
		t.Helper()
		u, err := users.ByUsername(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		g, err := groups.NamesOf(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	out, err := runCmd(t, env, "", "group", "add", "ops", "ann", "nobody", "ghost")
	if err == nil || !strings.Contains(err.Error(), "no such user: ghost, nobody") {
		t.Errorf("group add with unknown users: got %v, %q, want an error naming them", err, out)
	}
	if _, err := groups.ByName(ctx, "ops"); err != models.ErrNotFound {
		t.Errorf("a failed group add left the group behind (%v)", err)
	}
	out, err = runCmd(t, env, "", "group", "add", "ops", "ann", "bob")
	if err != nil || !strings.Contains(out, `Created group "ops".`) || !strings.Contains(out, "ann, bob") {
		t.Errorf("group add ops ann bob: got %v, %q", err, out)
	}
	out, err = runCmd(t, env, "", "group", "add", "ops", "bob")
	if err != nil || strings.Contains(out, "Created") || !strings.Contains(out, "No change") {
		t.Errorf("group add again: got %v, %q", err, out)
	}
	if _, err := runCmd(t, env, "", "group", "add", "dev", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := namesOf("bob"); !slices.Equal(got, []string{"dev", "ops"}) {
		t.Errorf("bob's groups: got %v, want [dev ops]", got)
	}
	out, err = runCmd(t, env, "", "group", "list")
	if err != nil || !strings.Contains(out, "ops\t2 members") || !strings.Contains(out, "dev\t1 members") {
		t.Errorf("group list: got %v, %q", err, out)
	}
	out, err = runCmd(t, env, "", "group", "list", "ops")
	if err != nil || out != "ann\nbob\n" {
		t.Errorf("group list ops: got %v, %q, want ann and bob", err, out)
	}
	out, err = runCmd(t, env, "", "group", "remove", "ops", "bob", "cat")
	if err != nil || !strings.Contains(out, `Removed from group "ops": bob`) || strings.Contains(out, "cat") {
		t.Errorf("group remove ops bob cat: got %v, %q", err, out)
	}
	if got := namesOf("bob"); !slices.Equal(got, []string{"dev"}) {
		t.Errorf("bob's groups after remove: got %v, want [dev]", got)
	}
	if _, err := runCmd(t, env, "", "group", "remove", "nosuch", "bob"); err == nil || !strings.Contains(err.Error(), `group "nosuch" does not exist`) {
		t.Errorf("group remove from a missing group: got %v", err)
	}
	if _, err := runCmd(t, env, "", "group", "add", "a,b", "bob"); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Errorf("group add with a comma in the name: got %v", err)
	}

	bob, _ := users.ByUsername(ctx, "bob")
	evs, err := models.NewEvents(db).ForUser(ctx, bob.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range evs {
		if e.Kind == models.EventGroupsChanged {
			details = append(details, models.EventDetail(ctx, &e))
		}
	}
	if want := []string{"Removed from ops by the group command", "Added to dev by the group command", "Added to ops by the group command"}; !slices.Equal(details, want) {
		t.Errorf("bob's group events: got %q, want %q", details, want)
	}

	for _, args := range [][]string{
		{"group"}, {"group", "join", "ops", "bob"}, {"group", "add", "ops"}, {"group", "remove", "ops"}, {"group", "list", "a", "b"},
	} {
		var ue *usageError
		if _, err := runCmd(t, env, "", args...); !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}
