// Package models holds Gatehouse's GORM models and every operation on them:
// users, password hashing, server-side sessions. GORM errors never leave this
// package; callers see the sentinel errors declared here or wrapped errors.
package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrUnavailable reports that the database cannot serve the request now
// (locked, read-only, full, or gone). Handlers answer 503.
var ErrUnavailable = errors.New("database unavailable")

// ErrCorrupt reports that the database file is damaged, is not a database,
// or was deleted or replaced under the running server. Retrying cannot
// help: handlers log it as an error and answer 500, and an operator must
// restore the file (see README, "Health checks").
var ErrCorrupt = errors.New("database corrupt or replaced")

// ErrNotFound reports that the record asked for does not exist.
var ErrNotFound = errors.New("not found")

// Open opens the database named by url and applies migrations. An empty url,
// a plain path, or a "sqlite:" / "file:" URL selects an SQLite file, opened
// in WAL mode with a busy timeout, immediate write transactions and foreign
// keys on.
func Open(ctx context.Context, url string, opts ...OpenOption) (*gorm.DB, error) {
	o := openOptions{busyTimeout: DefaultBusyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	dsn, err := sqliteDSN(url, o.busyTimeout)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{
		// Writes that need a transaction open one explicitly; the default
		// per-statement transaction only costs a round trip.
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", dbErr("connect", err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// SQLite has one writer; readers run in parallel under WAL. A bounded
	// pool keeps memory and file handles predictable.
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open database: %w", dbErr("connect", err))
	}
	if err := QuickCheck(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open database: %w (restore it from a backup)", err)
	}
	if err := Migrate(db.WithContext(ctx)); err != nil {
		return nil, err
	}
	return db, nil
}

// Close closes the database's connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate creates or updates the tables of every model.
func Migrate(db *gorm.DB) error {
	if err := db.AutoMigrate(allModels...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// allModels lists every model AutoMigrate manages; later areas append theirs.
var allModels = []any{&User{}, &Session{}, &AuthEvent{}, &ThrottleCounter{}}

// DefaultBusyTimeout is how long a statement waits for SQLite's write lock
// before giving up with ErrUnavailable (answered 503).
const DefaultBusyTimeout = 5 * time.Second

// OpenOption adjusts how Open connects.
type OpenOption func(*openOptions)

type openOptions struct {
	busyTimeout time.Duration
}

// WithBusyTimeout sets how long a statement waits for a lock held by another
// connection before failing (at least 1ms). A shorter wait turns a stuck
// writer into 503s sooner; a longer one rides out longer transactions.
func WithBusyTimeout(d time.Duration) OpenOption {
	return func(o *openOptions) { o.busyTimeout = max(d, time.Millisecond) }
}

// sqliteDSN turns DATABASE_URL into a go-sqlite3 DSN with Gatehouse's pragmas.
func sqliteDSN(raw string, busyTimeout time.Duration) (string, error) {
	path := strings.TrimSpace(raw)
	switch {
	case path == "":
		path = "gatehouse.db"
	case strings.HasPrefix(path, "postgres://"), strings.HasPrefix(path, "postgresql://"):
		return "", errors.New("DATABASE_URL: PostgreSQL is not built into this binary; use an SQLite path")
	case strings.HasPrefix(path, "sqlite://"):
		path = strings.TrimPrefix(path, "sqlite://")
	case strings.HasPrefix(path, "sqlite:"):
		path = strings.TrimPrefix(path, "sqlite:")
	case strings.HasPrefix(path, "file:"):
		path = strings.TrimPrefix(path, "file:")
	case strings.Contains(path, "://"):
		return "", fmt.Errorf("DATABASE_URL: unsupported scheme in %q (want an SQLite file path)", raw)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return "", fmt.Errorf("DATABASE_URL: query parameters are not accepted in %q; Gatehouse sets the SQLite pragmas itself", raw)
	}
	if path == "" {
		return "", errors.New("DATABASE_URL: empty SQLite path")
	}
	// The DSN is an SQLite URI filename, which percent-decodes the path and
	// ends it at '#': a directory named "50%dd" or "a#b" would otherwise
	// open (or create) a different file, or fail.
	path = strings.NewReplacer("%", "%25", "#", "%23").Replace(path)
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_cache_size", "-16000")
	return "file:" + path + "?" + q.Encode(), nil
}

// dbErr maps driver errors to the package's sentinels so callers can tell a
// missing record or an unavailable database from a bug.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB || se.ExtendedCode == sqlite3.ErrReadonlyDbMoved {
			return fmt.Errorf("%s: %w: %v", op, ErrCorrupt, err)
		}
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly, sqlite3.ErrFull,
			sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
			return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUniqueViolation reports whether err is a UNIQUE constraint failure.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}
