package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
)

var cheap = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// openTestUsers returns the user operations over a fresh database, hashing
// with cheap parameters.
func openTestUsers(t *testing.T) *Users {
	t.Helper()
	return NewUsers(openTestDB(t), passhash.NewHasher(cheap, 2, time.Second))
}

func TestSessionIDFromToken(t *testing.T) {
	_, id, err := newSessionToken()
	if err != nil || len(id) != 64 {
		t.Fatalf("newSessionToken: %q %v", id, err)
	}
	for _, tok := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("!", 43), strings.Repeat("A", 42) + "\x00"} {
		if _, ok := SessionIDFromToken(tok); ok {
			t.Errorf("SessionIDFromToken(%q): got ok, want rejected", tok)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	testdb.SkipOnPostgres(t, "checks SQLite's pragmas")
	users := openTestUsers(t)
	var mode string
	var fk, busy int
	users.db.Raw("PRAGMA journal_mode").Scan(&mode)
	users.db.Raw("PRAGMA foreign_keys").Scan(&fk)
	users.db.Raw("PRAGMA busy_timeout").Scan(&busy)
	if mode != "wal" || fk != 1 || busy < 1000 {
		t.Errorf("pragmas: journal_mode=%q foreign_keys=%d busy_timeout=%d, want wal, 1, >=1000", mode, fk, busy)
	}
	for _, bad := range []string{"postgres://x", "mysql://x", "file:x.db?mode=ro"} {
		if _, err := sqliteDSN(bad, DefaultBusyTimeout); err == nil {
			t.Errorf("sqliteDSN(%q): got nil error", bad)
		}
	}
}

// A path is a path: characters SQLite's URI filenames treat specially
// ('%' escapes, '#' fragment) name the file they spell.
func TestOpenPathWithURICharacters(t *testing.T) {
	for _, name := range []string{"50%dd", "a#b", "100%25"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "g.db")
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			t.Cleanup(func() { _ = Close(db) })
			if err := db.Exec("CREATE TABLE probe (x INTEGER)").Error; err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("got no file at %s: %v", path, err)
			}
		})
	}
}
