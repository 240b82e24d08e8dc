package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// A database made by the release before versioned migrations is adopted
// in place: every migration applies, every row and every password is still
// there, and the data migrations filled what they derive.
func TestMigrateUpgradesLegacyDatabase(t *testing.T) {
	path := loadLegacyDB(t)
	ctx := context.Background()
	db, err := models.Open(ctx, path, models.WithMigrate(models.MigrateCheck))
	if !errors.Is(err, models.ErrSchemaBehind) {
		t.Fatalf("Open(check) on the legacy database: got %v, want ErrSchemaBehind", err)
	}
	db, err = models.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrate) on the legacy database: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	list, err := models.Migrations(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if !m.Applied {
			t.Errorf("migration %s: got pending, want applied", m.Name)
		}
	}
	acc := NewAccounts(db, passhash.NewHasher(cheap, 2, time.Second), models.NewOutbox(db), Policy{})
	for _, name := range []string{"admin", "alice", "Alice2", "\u0430dmin", "bob", "carol"} {
		u, _, err := acc.verify(ctx, name, "correct-horse-battery")
		if err != nil {
			t.Errorf("log in as %q after the upgrade: %v", name, err)
			continue
		}
		if u.Username != name {
			t.Errorf("log in as %q: got user %q", name, u.Username)
		}
	}
	var n int64
	for table, want := range map[string]int64{"users": 6, "sessions": 1, "auth_events": 1, "throttle_counters": 1, "one_time_tokens": 1} {
		if err := db.Table(table).Count(&n).Error; err != nil || n != want {
			t.Errorf("%s after the upgrade: got %d rows (%v), want %d", table, n, err, want)
		}
	}
	if err := models.CheckSchema(ctx, db); err != nil {
		t.Errorf("CheckSchema after the upgrade: %v", err)
	}
}
