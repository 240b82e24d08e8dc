package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"gatehouse/internal/testdb"
)

// loadLegacyDB writes testdata/legacy_ef02412.sql (a database made by the last
// release before versioned migrations) into a new SQLite file.
func loadLegacyDB(t *testing.T) string { return testdb.LegacySQLite(t, "testdata/legacy_ef02412.sql") }

// Every column GORM reads or writes for a model exists in the migrated
// schema: the migrations, not AutoMigrate, make the tables, so a model
// field without its migration fails here.
func TestModelsMatchMigrations(t *testing.T) {
	db := openTestDB(t)
	for _, m := range allModels {
		s, err := schema.Parse(m, &sync.Map{}, db.NamingStrategy)
		if err != nil {
			t.Fatal(err)
		}
		if !db.Migrator().HasTable(s.Table) {
			t.Errorf("table %s of %T: missing from the migrations", s.Table, m)
			continue
		}
		for _, col := range s.DBNames {
			if !db.Migrator().HasColumn(m, col) {
				t.Errorf("column %s.%s of %T: missing from the migrations", s.Table, col, m)
			}
		}
	}
}

// Each migration number exists for both dialects: as an SQL file in both
// directories, or as a Go migration and in neither.
func TestMigrationsCoverBothDialects(t *testing.T) {
	versions := func(dir string) map[string]bool {
		out := map[string]bool{}
		entries, err := fs.ReadDir(migrationFiles, "migrations/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			num, _, _ := strings.Cut(e.Name(), "_")
			out[num] = true
		}
		return out
	}
	lite, pg := versions("sqlite"), versions("postgres")
	for v := range lite {
		if !pg[v] {
			t.Errorf("migration %s: in sqlite/, missing from postgres/", v)
		}
	}
	for v := range pg {
		if !lite[v] {
			t.Errorf("migration %s: in postgres/, missing from sqlite/", v)
		}
	}
	for v := range goMigrations {
		if lite[formatVersion(v)] || pg[formatVersion(v)] {
			t.Errorf("migration %d: both a Go migration and an SQL file", v)
		}
	}
}

func formatVersion(v int64) string { return fmt.Sprintf("%05d", v) }

// A database migrated by a newer binary is refused, whether the binary
// would migrate or only check; a database behind is refused in check mode.
func TestSchemaVersionChecks(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	db, err := Open(ctx, url, WithMigrate(MigrateCheck))
	if !errors.Is(err, ErrSchemaBehind) {
		t.Fatalf("check mode on an empty database: got %v, want ErrSchemaBehind", err)
	}
	db, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)", 99999, true).Error; err != nil {
		t.Fatal(err)
	}
	Close(db)
	for _, mode := range []MigrateMode{MigrateApply, MigrateCheck} {
		db, err := Open(ctx, url, WithMigrate(mode))
		if !errors.Is(err, ErrSchemaAhead) {
			t.Errorf("mode %d on a newer schema: got %v, want ErrSchemaAhead", mode, err)
		}
		if err == nil {
			Close(db)
		}
	}
}

// Several processes starting at once on a new database: every one comes
// up, and each migration ran exactly once (the others waited on the lock
// and then found nothing to do).
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	// An empty version table, so the openers race on the migrations
	// themselves rather than on creating the table.
	db, err := Open(ctx, url, WithMigrate(MigrateNone))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrations(ctx, db); err != nil {
		t.Fatal(err)
	}
	Close(db)
	const n = 4
	dbs := make([]*gorm.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("opener %d: %v", i, errs[i])
		}
		defer Close(dbs[i])
	}
	var rows []struct {
		VersionID int64
		N         int64
	}
	if err := dbs[0].Raw("SELECT version_id, COUNT(*) AS n FROM goose_db_version GROUP BY version_id").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	list, err := Migrations(ctx, dbs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(list)+1 { // +1: goose's version 0
		t.Errorf("versions recorded: got %d, want %d", len(rows), len(list)+1)
	}
	for _, r := range rows {
		if r.N != 1 {
			t.Errorf("migration %d: recorded %d times, want once", r.VersionID, r.N)
		}
	}
}
