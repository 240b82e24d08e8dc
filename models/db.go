// Package models holds Gatehouse's GORM models and every operation on them:
// users, password hashing, server-side sessions. GORM errors never leave this
// package; callers see the sentinel errors declared here or wrapped errors.
package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
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

// Open opens the database named by url and brings its schema up to date
// (see WithMigrate). A "postgres://" or "postgresql://" URL selects
// PostgreSQL (pgx). An empty url, a plain path, or a "sqlite:" / "file:" URL
// selects an SQLite file, opened in WAL mode with a busy timeout, immediate
// write transactions and foreign keys on.
func Open(ctx context.Context, url string, opts ...OpenOption) (*gorm.DB, error) {
	o := openOptions{busyTimeout: DefaultBusyTimeout, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	var dialector gorm.Dialector
	var connector *sqliteConnector
	var pgGen *pgGeneration
	var pgConfig *pgx.ConnConfig
	var pgPool *sql.DB
	maxConns := DefaultSQLiteMaxConns()
	if isPostgresURL(url) {
		// Our own pool (pgx's, each connection wrapped so that its commits
		// move the change stamp: changes_pg.go), handed to GORM.
		pgGen = new(pgGeneration)
		pool, cfg, err := openPostgresPool(strings.TrimSpace(url), pgGen)
		if err != nil {
			return nil, openErr(dbErr("connect", err))
		}
		pgPool, pgConfig = pool, cfg
		dialector = postgres.New(postgres.Config{Conn: pool})
		maxConns = DefaultPostgresMaxConns
	} else {
		dsn, err := sqliteDSN(url, o.busyTimeout)
		if err != nil {
			return nil, err
		}
		if err := createPrivate(sqliteFile(url)); err != nil {
			return nil, fmt.Errorf("DATABASE_URL: create %s: %w", sqliteFile(url), err)
		}
		// A driver of our own (not sql.Register'ed: no global name), so a
		// test's hook runs on every connection the pool opens.
		connector = &sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: o.connectHook}}
		pool := sql.OpenDB(*connector)
		dialector = sqlite.New(sqlite.Config{Conn: newWriteGate(pool, o.busyTimeout)})
	}
	if o.maxConns > 0 {
		maxConns = o.maxConns
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		// Writes that need a transaction open one explicitly; on
		// PostgreSQL the default per-statement transaction only costs a
		// round trip. On SQLite it is what queues a lone Create, Update or
		// Delete at the write gate (writegate.go) instead of in SQLite's
		// busy handler, holding a connection.
		SkipDefaultTransaction: isPostgresURL(url),
		// GORM's statement cache can deadlock when the pool is exhausted
		// (go-gorm/gorm#7465, open: a statement prepared outside a
		// transaction waits for a connection while every connection's
		// transaction waits for that statement); a burst of logins on
		// PostgreSQL reached it. pgx caches prepared statements per
		// connection itself, so PostgreSQL does without GORM's cache. On
		// SQLite the cache saves ~40 µs a query (mattn compiles every
		// statement). There SQLite's busy handler used to make writers
		// wait for the lock holding connections, and a burst of sign-ins
		// reached the stall; the write gate (writegate.go) keeps waiting
		// writers off the pool (TestStatementCacheCannotStallWriters).
		PrepareStmt: !isPostgresURL(url),
		Logger:      logger.Discard,
		NowFunc:     func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		if pgPool != nil {
			pgPool.Close()
		}
		return nil, openErr(dbErr("connect", err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// SQLite has one writer; readers run in parallel under WAL. PostgreSQL
	// serves many, but every connection is a server process: a bounded pool
	// per instance keeps N instances within max_connections.
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, openErr(dbErr("connect", err))
	}
	if err := QuickCheck(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, openErr(err)
	}
	switch o.migrate {
	case MigrateApply:
		_, err = Migrate(ctx, db, o.log)
	case MigrateCheck:
		err = CheckSchema(ctx, db)
	}
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	if connector != nil {
		// Without a watch (no shared-memory file to read) nothing is
		// cached: the lookups read the database every time.
		if w, release, err := watchSQLite(ctx, sqliteFile(url), connector.Connect); err == nil {
			setWatch(sqlDB, w, release)
		} else if o.log != nil {
			o.log.Warn("database change watch unavailable; lookups are not cached", "err", err)
		}
	}
	if pgGen != nil {
		if w, err := watchPostgres(ctx, sqlDB, pgConfig, pgGen, o.log); err == nil {
			setWatch(sqlDB, w, w.close)
		} else if o.log != nil {
			o.log.Warn("database change watch unavailable; lookups are not cached", "err", err)
		}
	}
	return db, nil
}

// openErr explains a failure to open the database; a damaged one says what
// to do about it.
func openErr(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("open database: %w (restore it from a backup)", err)
	}
	return fmt.Errorf("open database: %w", err)
}

// Close closes the database's connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	err = sqlDB.Close()
	dropWatch(sqlDB)
	return err
}

// allModels lists every model stored in a table. The migrations, not GORM,
// make the tables; TestModelsMatchMigrations checks that each model's
// columns exist in the migrated schema on the dialect under test.
var allModels = []any{&User{}, &Session{}, &AuthEvent{}, &ThrottleCounter{}}

// DefaultBusyTimeout is how long a statement waits for SQLite's write lock
// before giving up with ErrUnavailable (answered 503).
const DefaultBusyTimeout = 5 * time.Second

// OpenOption adjusts how Open connects.
type OpenOption func(*openOptions)

type openOptions struct {
	busyTimeout time.Duration
	maxConns    int
	migrate     MigrateMode
	log         *slog.Logger
	connectHook func(*sqlite3.SQLiteConn) error
}

// WithSQLiteConnectHook runs hook on every SQLite connection the pool
// opens, before its first statement; an error from it fails that
// connection. Tests use it to install SQLite's update and commit hooks on
// every connection, so they see each write whichever connection makes it.
// It has no effect on PostgreSQL.
func WithSQLiteConnectHook(hook func(*sqlite3.SQLiteConn) error) OpenOption {
	return func(o *openOptions) { o.connectHook = hook }
}

// sqliteConnector opens SQLite connections through drv, so its
// ConnectHook runs on each.
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.drv }

// DefaultPostgresMaxConns is the connection pool size per process on
// PostgreSQL unless DATABASE_MAX_CONNS says otherwise.
const DefaultPostgresMaxConns = 16

// DefaultSQLiteMaxConns is the pool size on SQLite unless
// DATABASE_MAX_CONNS says otherwise: twice the cores the process may use,
// from 4 to 16. SQLite runs in the process, so connections beyond the cores
// add no throughput, and each keeps a page cache of its own (up to 16 MB),
// which every committed write empties: on 2 cores, with 1,000,000
// sessions, 8 connections served 25% fewer signed-in pages than 2 or 4.
func DefaultSQLiteMaxConns() int { return min(max(2*runtime.GOMAXPROCS(0), 4), 16) }

// WithMaxConns bounds the connection pool (0 keeps the dialect's default).
func WithMaxConns(n int) OpenOption {
	return func(o *openOptions) { o.maxConns = n }
}

// WithLogger sets where Open reports the migrations it applies.
func WithLogger(log *slog.Logger) OpenOption {
	return func(o *openOptions) { o.log = log }
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
	case strings.HasPrefix(path, "sqlite://"):
		path = strings.TrimPrefix(path, "sqlite://")
	case strings.HasPrefix(path, "sqlite:"):
		path = strings.TrimPrefix(path, "sqlite:")
	case strings.HasPrefix(path, "file:"):
		path = strings.TrimPrefix(path, "file:")
	case strings.Contains(path, "://"):
		return "", fmt.Errorf("DATABASE_URL: unsupported scheme in %q (want an SQLite file path or a postgres:// URL)", raw)
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
	q.Set("_cache_size", strconv.Itoa(sqliteCacheKiB))
	return "file:" + path + "?" + q.Encode(), nil
}

// sqliteFile is the file path an SQLite DATABASE_URL names.
func sqliteFile(raw string) string {
	path := strings.TrimSpace(raw)
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(path, prefix) {
			return strings.TrimPrefix(path, prefix)
		}
	}
	if path == "" {
		return "gatehouse.db"
	}
	return path
}

// createPrivate creates a new database file readable by its owner only (it
// holds password hashes; SQLite gives its -wal and -shm files the same
// mode). An existing file is left as it is.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		return nil // exists; or its directory does not, which Open reports
	}
	if err != nil {
		return err
	}
	return f.Close()
}
