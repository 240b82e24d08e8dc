package auth

import (
	"context"
	"gatehouse/internal/modeltest"
	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/models"
	"slices"
	"sort"
	"testing"
	"time"

	"gorm.io/gorm"
)

var cheap = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// loadLegacyDB writes models/testdata/legacy_ef02412.sql (a database made by the last
// release before versioned migrations) into a new SQLite file.
func loadLegacyDB(t *testing.T) string {
	return testdb.LegacySQLite(t, "../models/testdata/legacy_ef02412.sql")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func mustCreate(t *testing.T, users *models.Users, nu models.NewUser) *models.User {
	t.Helper()
	if nu.Password == "" {
		nu.Password = "a long enough password"
	}
	u, err := users.Create(context.Background(), nu)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// openTestDB opens a fresh, migrated test database (modeltest.OpenDB).
func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	return modeltest.OpenDB(t, opts...)
}

// openTestUsers returns the user operations over a fresh database, hashing
// with cheap parameters.
func openTestUsers(t *testing.T) *models.Users {
	t.Helper()
	return models.NewUsers(openTestDB(t), passhash.NewHasher(cheap, 2, time.Second))
}

// openTwoPools opens the same new database twice.
func openTwoPools(t *testing.T) (*gorm.DB, *gorm.DB) {
	t.Helper()
	url := testdb.URL(t)
	var dbs [2]*gorm.DB
	for i := range dbs {
		db, err := models.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open pool %d: %v", i, err)
		}
		t.Cleanup(func() { _ = models.Close(db) })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}
