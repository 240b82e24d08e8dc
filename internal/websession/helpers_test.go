package websession

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	t.Helper()
	db, err := models.Open(context.Background(), testdb.URL(t), opts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}
