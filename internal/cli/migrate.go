package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"gatehouse/models"
)

// dbSettings are the database settings beyond DATABASE_URL.
type dbSettings struct {
	// migrate is what opening the database does about pending migrations:
	// MIGRATE_ON_START=on applies them, off only checks.
	migrate models.MigrateMode
	// maxConns bounds each process's connection pool (DATABASE_MAX_CONNS;
	// 0: the dialect's default).
	maxConns int
	log      *slog.Logger
}

// loadDBSettings reads MIGRATE_ON_START and DATABASE_MAX_CONNS.
func loadDBSettings(env func(k, def string) string, s *dbSettings) []error {
	var errs []error
	switch v := strings.ToLower(env("MIGRATE_ON_START", "on")); v {
	case "on", "true", "1":
		s.migrate = models.MigrateApply
	case "off", "false", "0":
		s.migrate = models.MigrateCheck
	default:
		errs = append(errs, fmt.Errorf("MIGRATE_ON_START: %q is not on or off", v))
	}
	if v := env("DATABASE_MAX_CONNS", "0"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS: %q is not a number from 0 (the default: twice the cores, 4 to 16, on SQLite; %d on PostgreSQL) to 1000", v, models.DefaultPostgresMaxConns))
		}
		s.maxConns = n
	}
	return errs
}

// dbOptions are the options every command opens the database with.
func (s dbSettings) dbOptions() []models.OpenOption {
	log := s.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return []models.OpenOption{models.WithMigrate(s.migrate), models.WithMaxConns(s.maxConns), models.WithLogger(log)}
}

// migrateCmd is `gatehouse migrate`: apply every pending migration, like
// Django's migrate. Several instances may run it at once: one applies, the
// others wait for it and then find nothing to do.
func migrateCommand(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, _ []string) error { return migrateCmd(ctx, e.cfg, e.stdout) }
}

func migrateCmd(ctx context.Context, cfg config, stdout io.Writer) error {
	cfg.db.migrate = models.MigrateNone
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	applied, err := models.Migrate(ctx, db, slog.New(slog.DiscardHandler))
	for _, name := range applied {
		fmt.Fprintf(stdout, "  Applying %s... OK\n", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "No migrations to apply.")
	}
	return nil
}

// showMigrations is `gatehouse showmigrations`: every migration this binary
// knows, [X] applied or [ ] pending, like Django's.
func showMigrationsCommand(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, _ []string) error { return showMigrations(ctx, e.cfg, e.stdout) }
}

func showMigrations(ctx context.Context, cfg config, stdout io.Writer) error {
	cfg.db.migrate = models.MigrateNone
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	list, err := models.Migrations(ctx, db)
	if err != nil {
		return err
	}
	for _, m := range list {
		mark := " "
		if m.Applied {
			mark = "X"
		}
		fmt.Fprintf(stdout, "[%s] %s\n", mark, m.Name)
	}
	// A database migrated by a newer binary has versions not listed here.
	if err := models.CheckSchema(ctx, db); err != nil && !errors.Is(err, models.ErrSchemaBehind) {
		return err
	}
	return nil
}
