package models

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"
)

// The schema is versioned with goose. Each dialect has its own numbered SQL
// files under migrations/<dialect>/, embedded in the binary; a migration that
// must compute data (not just change the schema) is a Go function in
// goMigrations, run on both dialects. Every number exists once per dialect:
// as a file in both directories, or as a Go migration. goose records what ran
// in the goose_db_version table. See docs/DECISIONS.md, "Migrations", for how
// to add one.

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// goMigration computes data inside a migration's transaction. d tells the
// dialect, for placeholders (d.rebind) and what else differs.
type goMigration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx, d dialect, log *slog.Logger) error
}

// goMigrations are the Go migrations by version; files of the same version
// must not exist.
var goMigrations = map[int64]goMigration{}

// Errors of the schema check.
var (
	// ErrSchemaBehind reports migrations this binary knows that the database
	// has not applied (run `gatehouse migrate`).
	ErrSchemaBehind = errors.New("the database schema is older than this binary")
	// ErrSchemaAhead reports a database migrated by a newer binary.
	ErrSchemaAhead = errors.New("the database schema is newer than this binary")
)

// MigrateMode says what Open does about the schema version.
type MigrateMode int

const (
	// MigrateApply applies pending migrations (the default).
	MigrateApply MigrateMode = iota
	// MigrateCheck applies nothing and refuses a database whose schema is
	// behind or ahead of this binary.
	MigrateCheck
	// MigrateNone neither applies nor checks: for the migrate and
	// showmigrations commands, which do that themselves.
	MigrateNone
)

// WithMigrate sets what Open does about the schema version.
func WithMigrate(m MigrateMode) OpenOption {
	return func(o *openOptions) { o.migrate = m }
}

// MigrationStatus is one migration and whether the database has it.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Migrate applies every pending migration and returns the names of those it
// applied. It is safe from several processes at once: on PostgreSQL a
// session advisory lock, on SQLite an exclusive lock on a file beside the
// database, lets one process migrate while the others wait; a waiter then
// finds nothing left to do. A database newer than this binary is refused.
func Migrate(ctx context.Context, db *gorm.DB, log *slog.Logger) ([]string, error) {
	p, err := newMigrationProvider(db, log)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	var applied []string
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, migrationName(r.Source))
			log.Info("migration applied", "migration", migrationName(r.Source), "duration", r.Duration.Round(time.Millisecond))
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, checkNotAhead(ctx, p)
}

// Migrations lists every migration this binary knows, with whether the
// database has applied it.
func Migrations(ctx context.Context, db *gorm.DB) ([]MigrationStatus, error) {
	p, err := newMigrationProvider(db, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version: s.Source.Version, Name: migrationName(s.Source),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// CheckSchema reports ErrSchemaBehind when migrations are pending and
// ErrSchemaAhead when the database has a version this binary does not know.
func CheckSchema(ctx context.Context, db *gorm.DB) error {
	p, err := newMigrationProvider(db, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if err := checkNotAhead(ctx, p); err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if pending {
		return fmt.Errorf("%w: run `gatehouse migrate` (or start with MIGRATE_ON_START=on)", ErrSchemaBehind)
	}
	return nil
}

func checkNotAhead(ctx context.Context, p *goose.Provider) error {
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	var known int64
	for _, s := range p.ListSources() {
		known = max(known, s.Version)
	}
	if current > known {
		return fmt.Errorf("%w: the database is at migration %d, this binary knows up to %d; run the newer binary", ErrSchemaAhead, current, known)
	}
	return nil
}

func migrationName(s *goose.Source) string {
	if s.Path != "" {
		return strings.TrimSuffix(path.Base(s.Path), ".sql")
	}
	if m, ok := goMigrations[s.Version]; ok {
		return fmt.Sprintf("%05d_%s", s.Version, m.name)
	}
	return fmt.Sprintf("%05d", s.Version)
}

// newMigrationProvider builds the goose provider for db's dialect, with the
// lock that serialises migrating processes.
func newMigrationProvider(db *gorm.DB, log *slog.Logger) (*goose.Provider, error) {
	d := dialectOf(db)
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	fsys, err := fs.Sub(migrationFiles, "migrations/"+string(d))
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	for v, m := range goMigrations {
		opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(v,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return m.up(ctx, tx, d, log) }}, nil)))
	}
	var gd goose.Dialect
	switch d {
	case dialectPostgres:
		gd = goose.DialectPostgres
		// Waiters poll the advisory lock twice a second for up to 10 minutes.
		l, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	default:
		gd = goose.DialectSQLite3
		var file string
		// The main database's file; "" for an in-memory database, which no
		// other process can see and so needs no lock.
		if err := sqlDB.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
			return nil, dbErr("migrate", err)
		}
		if file != "" {
			opts = append(opts, goose.WithSessionLocker(&fileLocker{path: file + "-migrate.lock"}))
		}
	}
	p, err := goose.NewProvider(gd, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// fileLocker serialises migrating processes on one SQLite database with an
// exclusive flock on a file beside it. The kernel drops the lock when its
// holder dies, so a crashed migration never leaves the database locked. (A
// write transaction cannot serve: goose runs each migration in its own
// transaction on the locked connection.)
type fileLocker struct {
	path string
	f    *os.File
}

func (l *fileLocker) SessionLock(ctx context.Context, _ *sql.Conn) error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			l.f = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("migration lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *fileLocker) SessionUnlock(context.Context, *sql.Conn) error {
	if l.f == nil {
		return nil
	}
	// Closing the descriptor releases the flock.
	f := l.f
	l.f = nil
	return f.Close()
}
