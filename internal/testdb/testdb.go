// Package testdb gives each test its own database: a fresh SQLite file by
// default, or, when TEST_DATABASE_URL names a PostgreSQL server, a fresh
// database on it (CREATE DATABASE gh_test_<random>, dropped when the test
// ends). It is a package of its own so the model, handler and main tests
// share one way of choosing the database under test.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvVar names the variable that selects PostgreSQL for the tests.
const EnvVar = "TEST_DATABASE_URL"

// Postgres reports whether the tests run on PostgreSQL.
func Postgres() bool {
	u := strings.TrimSpace(os.Getenv(EnvVar))
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SkipOnPostgres skips a test that is about SQLite itself (its files, WAL,
// locking, corruption), saying why.
func SkipOnPostgres(t testing.TB, why string) {
	t.Helper()
	if Postgres() {
		t.Skip("SQLite only: " + why)
	}
}

// URL returns a DATABASE_URL for a database nobody else uses, made for t
// and removed after it: an SQLite file under t.TempDir(), or a new
// PostgreSQL database on the server TEST_DATABASE_URL names.
func URL(t testing.TB) string {
	t.Helper()
	if !Postgres() {
		return filepath.Join(t.TempDir(), "test.db")
	}
	admin := strings.TrimSpace(os.Getenv(EnvVar))
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "gh_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create test database (the role in %s needs CREATEDB): %v", EnvVar, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// WITH (FORCE) ends connections a test left open (a killed child
		// process, a pool not yet closed).
		// It can still be refused for a moment: a backend of another role
		// (an autovacuum worker analysing the fresh tables) cannot be
		// ended by this role (SQLSTATE 42501); such a worker finishes
		// soon, so try again for a few seconds.
		var err error
		for range 25 {
			if _, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("drop test database %s: %v", name, err)
	})
	u.Path = "/" + name
	return u.String()
}
