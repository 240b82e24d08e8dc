package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// migrate and showmigrations, like Django's; serve with MIGRATE_ON_START=off
// refuses a database that is behind, and applies nothing.
func TestMigrateCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.URL(t), "MIGRATE_ON_START": "off", "ADDR": "127.0.0.1:0"}

	out, err := runCmd(t, env, "", "showmigrations")
	if err != nil || !strings.Contains(out, "[ ] 00001_baseline") || strings.Contains(out, "[X]") {
		t.Fatalf("showmigrations on a new database: got %q, %v; want every migration [ ]", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, nil, envMap(env), strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	if !errors.Is(err, models.ErrSchemaBehind) {
		t.Fatalf("serve with MIGRATE_ON_START=off on a new database: got %v, want ErrSchemaBehind", err)
	}
	if out, _ := runCmd(t, env, "", "showmigrations"); strings.Contains(out, "[X]") {
		t.Fatalf("serve with MIGRATE_ON_START=off applied migrations: %q", out)
	}

	out, err = runCmd(t, env, "", "migrate")
	if err != nil || !strings.Contains(out, "Applying 00001_baseline... OK") {
		t.Fatalf("migrate: got %q, %v; want 00001_baseline applied", out, err)
	}
	out, err = runCmd(t, env, "", "showmigrations")
	if err != nil || strings.Contains(out, "[ ]") || !strings.Contains(out, "[X] 00001_baseline") {
		t.Fatalf("showmigrations after migrate: got %q, %v; want every migration [X]", out, err)
	}
	out, err = runCmd(t, env, "", "migrate")
	if err != nil || !strings.Contains(out, "No migrations to apply.") {
		t.Fatalf("migrate again: got %q, %v; want nothing to apply", out, err)
	}
	if _, err := runCmd(t, env, "", "migrate", "extra"); err == nil {
		t.Errorf("migrate extra: got nil error, want unexpected arguments")
	}
}

func TestLoadConfigDatabaseSettings(t *testing.T) {
	for k, v := range map[string]string{"MIGRATE_ON_START": "sometimes", "DATABASE_MAX_CONNS": "-3"} {
		if _, err := loadConfig(envMap(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: got error %v, want one naming %s", k, v, err, k)
		}
	}
	c, err := loadConfig(envMap(map[string]string{"MIGRATE_ON_START": "off", "DATABASE_MAX_CONNS": "4"}))
	if err != nil || c.db.migrate != models.MigrateCheck || c.db.maxConns != 4 {
		t.Errorf("got %+v, %v; want check mode and 4 connections", c.db, err)
	}
	if c, _ := loadConfig(envMap(nil)); c.db.migrate != models.MigrateApply {
		t.Errorf("default MIGRATE_ON_START: got mode %d, want apply", c.db.migrate)
	}
}
