package websession

import (
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/modeltest"
	"gatehouse/models"
)

// openTestDB opens a fresh, migrated test database (modeltest.OpenDB).
func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	return modeltest.OpenDB(t, opts...)
}
