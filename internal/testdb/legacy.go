package testdb

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" database/sql driver
)

// LegacySQLite writes dump (an SQL dump of an old Gatehouse database, such
// as models/testdata/legacy_ef02412.sql, made by the last release before
// versioned migrations) into a new SQLite file and returns its path.
func LegacySQLite(t testing.TB, dump string) string {
	t.Helper()
	sqlText, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "legacy.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(string(sqlText)); err != nil {
		t.Fatalf("load legacy dump: %v", err)
	}
	return path
}
