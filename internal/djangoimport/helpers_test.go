package djangoimport

import (
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/modeltest"
	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// cheap are hash parameters fast enough for tests.
var cheap = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// openTestDB opens a fresh, migrated test database (modeltest.OpenDB).
func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	return modeltest.OpenDB(t, opts...)
}
