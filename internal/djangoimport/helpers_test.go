package djangoimport

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// cheap are hash parameters fast enough for tests.
var cheap = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// openTestDB opens a fresh database: an SQLite file under t.TempDir(), or
// a new PostgreSQL database when TEST_DATABASE_URL is set (testdb.URL).
func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	t.Helper()
	db, err := models.Open(context.Background(), testdb.URL(t), opts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}
