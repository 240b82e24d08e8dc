// Package modeltest opens databases for the tests of the packages built on
// models (auth, internal/…): a fresh SQLite file, or a fresh PostgreSQL
// database when TEST_DATABASE_URL is set (internal/testdb), migrated and
// closed when the test ends. The models package's own tests cannot use it
// (it imports models) and have their own openTestDB.
package modeltest

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// OpenDB opens a fresh, migrated test database.
func OpenDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	t.Helper()
	db, err := models.Open(context.Background(), testdb.URL(t), opts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}
