package models

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/testdb"
)

// TestLostConnectionIsUnavailable terminates the backend of a transaction
// in flight (as pg_terminate_backend, an admin shutdown or a crashed
// server does) and checks that what the app sees next, a statement or the
// commit, reads as ErrUnavailable (answered 503), never as a bug (500).
func TestLostConnectionIsUnavailable(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("terminates a PostgreSQL backend (set TEST_DATABASE_URL)")
	}
	db := openTestDB(t)
	killer := openTestDB(t)
	for _, step := range []struct {
		name  string
		after func(tx *gorm.DB) error
	}{
		{"statement", func(tx *gorm.DB) error { return tx.Exec("SELECT 1").Error }},
		{"commit", func(*gorm.DB) error { return nil }},
		// The connection is known closed by then: what the driver says
		// for a statement or a commit on it.
		{"statement after the loss", func(tx *gorm.DB) error {
			_ = tx.Exec("SELECT 1").Error
			return tx.Exec("SELECT 2").Error
		}},
		{"commit after the loss", func(tx *gorm.DB) error {
			_ = tx.Exec("SELECT 1").Error
			return nil
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			ctx := context.Background()
			err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				var pid int
				if err := tx.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
					t.Fatal(err)
				}
				if err := killer.Exec("SELECT pg_terminate_backend(?)", pid).Error; err != nil {
					t.Fatal(err)
				}
				return step.after(tx)
			})
			if err == nil {
				t.Fatal("the transaction outlived its backend")
			}
			t.Logf("raw error: %v (%T)", err, err)
			if got := dbErr("op", err); !errors.Is(got, ErrUnavailable) {
				t.Fatalf("lost connection at the %s: got %v, want ErrUnavailable", step.name, got)
			}
		})
	}
}
