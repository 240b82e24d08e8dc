package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// This file is the one place that knows which database Gatehouse runs on.
// Everything else writes portable GORM calls; what truly differs lives here
// (and in the per-dialect migration files): how errors are classified, the
// placeholders of hand-written SQL, and the open options.

// dialect names a database family; its value is also the directory of its
// migration files.
type dialect string

const (
	dialectSQLite   dialect = "sqlite"
	dialectPostgres dialect = "postgres"
)

// dialectOf tells which database db talks to.
func dialectOf(db *gorm.DB) dialect {
	if db.Dialector.Name() == "postgres" {
		return dialectPostgres
	}
	return dialectSQLite
}

// isPostgresURL reports whether DATABASE_URL names a PostgreSQL server.
func isPostgresURL(url string) bool {
	u := strings.TrimSpace(url)
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// rebind rewrites the ? placeholders of hand-written SQL for d: PostgreSQL
// numbers them ($1, $2, …). The SQL must hold no literal '?'.
func (d dialect) rebind(q string) string {
	if d != dialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
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
	if isCorrupt(err) {
		return fmt.Errorf("%s: %w: %v", op, ErrCorrupt, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isCorrupt reports a database file that is damaged, is not a database, or
// was moved or replaced under the running process: not retryable, answered
// 500 and logged loudly, never a 503 that would be retried forever.
func isCorrupt(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB || se.ExtendedCode == sqlite3.ErrReadonlyDbMoved
	}
	var pe *pgconn.PgError
	// PostgreSQL's XX001 data_corrupted and XX002 index_corrupted.
	return errors.As(err, &pe) && (pe.Code == "XX001" || pe.Code == "XX002")
}

// isUnavailable reports errors that say the database cannot serve now
// (locked, contended, read-only, full, gone), on either dialect, as opposed
// to a bug in the statement.
func isUnavailable(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly, sqlite3.ErrFull,
			sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", // serialization_failure
			"40P01", // deadlock_detected
			"55P03", // lock_not_available
			"57014", // query_canceled (statement_timeout)
			"25006": // read_only_sql_transaction (a standby)
			return true
		}
		// Class 08: connection exception; 53: insufficient resources (disk
		// full, too many connections); 57P: operator intervention (admin
		// or crash shutdown, cannot connect now).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57P")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	// A connection found closed (pgx's "conn closed", e.g. committing on a
	// connection whose backend was terminated), or a transaction already
	// rolled back under its caller (its context ended): nothing was
	// committed, so it is a fault to retry, not a bug. (Found by the
	// issue-23 helper's TestLostConnectionIsUnavailable.)
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// IsUniqueViolation reports whether err is a UNIQUE (or primary key)
// constraint failure.
func IsUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// UniqueIndexOf names the unique index a violation hit ("" if unknown), so
// one insert can tell a taken username from a taken e-mail address.
func UniqueIndexOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		// SQLite names the columns: "UNIQUE constraint failed: users.email_key".
		msg := se.Error()
		if i := strings.LastIndex(msg, "failed: "); i >= 0 {
			return msg[i+len("failed: "):]
		}
	}
	return ""
}

// adminWritesLock is the PostgreSQL advisory lock key of admin writes.
const adminWritesLock int64 = 0x6761746568_01 // "gateh", 1

// SerializeAdminWrites makes the admin writes that can take away a
// superuser (update, delete) run one at a time, so "an active superuser
// remains" is checked against every committed change. SQLite's immediate
// transactions already hold the single write lock. Under PostgreSQL's READ
// COMMITTED, two admins demoting each other would each count the other
// still a superuser and both commit: a transaction-scoped advisory lock,
// taken first, orders them, and each statement after it sees the other's
// commit. Admin edits are rare, so one lock for all costs nothing.
func SerializeAdminWrites(tx *gorm.DB) error {
	if dialectOf(tx) != dialectPostgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", adminWritesLock).Error
}
