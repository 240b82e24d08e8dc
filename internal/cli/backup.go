package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"gatehouse/models"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// pgBackupHelp is what backup and restore say on PostgreSQL, whose own
// tools do this job better than we could.
const pgBackupHelp = `DATABASE_URL is PostgreSQL: use its own tools, e.g.
  pg_dump --format=custom --file=gatehouse.dump "$DATABASE_URL"
  pg_restore --clean --if-exists --dbname="$DATABASE_URL" gatehouse.dump
(stop Gatehouse, or every instance, before pg_restore)`

// sqlitePath returns the SQLite file DATABASE_URL names, or false for
// another database.
func sqlitePath(dbURL string) (string, bool) {
	p := strings.TrimSpace(dbURL)
	if p == "" {
		p = "gatehouse.db"
	}
	if strings.Contains(p, "://") && !strings.HasPrefix(p, "sqlite://") {
		return "", false
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		p = strings.TrimPrefix(p, prefix)
	}
	if p == "" || p == ":memory:" {
		return "", false
	}
	return p, true
}

// rawSQLite opens path with the plain driver (no migrations), read-only or
// not, with a short busy timeout.
func rawSQLite(path string, readOnly bool) (*sql.DB, error) {
	dsn := "file:" + strings.NewReplacer("%", "%25", "#", "%23", "?", "%3f").Replace(path) + "?_busy_timeout=200"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// verifySQLite runs integrity_check on the file at path and returns its
// user count.
func verifySQLite(ctx context.Context, path string) (int64, error) {
	db, err := rawSQLite(path, true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(5)").Scan(&res); err != nil {
		return 0, fmt.Errorf("%s: integrity check: %w", path, err)
	}
	if res != "ok" {
		return 0, fmt.Errorf("%s: integrity check failed: %s", path, res)
	}
	var users int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&users); err != nil {
		return 0, fmt.Errorf("%s: not a Gatehouse database: %w", path, err)
	}
	return users, nil
}

// backupCmd is the command table's entry for backup and restore.
func backupCmd(cmd string) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			return backupCommand(ctx, e.cfg, cmd, args, e.stdout)
		}
	}
}

// backupCommand is `gatehouse backup FILE` and `gatehouse restore FILE`.
func backupCommand(ctx context.Context, cfg config, cmd string, args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%s: usage: gatehouse %s FILE", cmd, cmd)
	}
	path, ok := sqlitePath(cfg.DatabaseURL)
	if !ok {
		return fmt.Errorf("%s: %s", cmd, pgBackupHelp)
	}
	if cmd == "backup" {
		return backup(ctx, path, args[0], stdout)
	}
	return restore(ctx, path, args[0], stdout)
}

// backup copies the live database to file with VACUUM INTO: a consistent
// snapshot taken in one read transaction, so writers carry on (WAL) and
// nothing half-written is copied (a file copy of a WAL database can be),
// then verifies the copy.
func backup(ctx context.Context, dbPath, file string, stdout io.Writer) error {
	// The copy holds password hashes: a plain path only (an SQLite URI
	// such as "file:x?mode=rwc" would be opened as something else than
	// the file this command checks and cleans up), made here, owner-only,
	// with O_EXCL, which also refuses an existing file and any symlink,
	// dangling or not (it would write wherever the link points).
	if strings.HasPrefix(file, "file:") || strings.ContainsAny(file, "?#") {
		return fmt.Errorf("backup: %s: give a plain file path, not an SQLite URI", file)
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup: database %s: %w", dbPath, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s already exists (or is a link); choose a new file name", file)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_ = f.Close()
	db, err := rawSQLite(dbPath, false)
	if err != nil {
		_ = os.Remove(file)
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	start := time.Now()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", file); err != nil {
		_ = os.Remove(file)
		return fmt.Errorf("backup: %w", err)
	}
	users, err := verifySQLite(ctx, file)
	if err != nil {
		_ = os.Remove(file) // a copy that failed verification is no backup
		return fmt.Errorf("backup: the copy failed verification: %w", err)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fi, _ := os.Stat(file)
	fmt.Fprintf(stdout, "Backed up %s to %s in %s: %d bytes, %d users, integrity check ok.\n",
		dbPath, file, time.Since(start).Round(time.Millisecond), fi.Size(), users)
	return nil
}

// errInUse means the database is open elsewhere (a running server).
var errInUse = errors.New("the database is in use (is the server running?): stop every process using it, then restore")

// restore replaces the database with the backup in file, after checking
// the backup and that nothing else has the database open. The database
// being replaced is first saved beside it (…before-restore-TIME).
func restore(ctx context.Context, dbPath, file string, stdout io.Writer) error {
	users, err := verifySQLite(ctx, file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := checkBackupSchema(ctx, file); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	dst, err := rawSQLite(dbPath, false)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer dst.Close()
	conn, err := dst.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer conn.Close()
	// SQLite leaves WAL mode only when no other connection has the file
	// open, in this process or any other: the test that nothing is using
	// it. The mode is checked, since a refused change is not an error.
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		if isBusy(err) {
			return fmt.Errorf("restore: %w", errInUse)
		}
		return fmt.Errorf("restore: %w", err)
	}
	if mode != "delete" {
		return fmt.Errorf("restore: %w", errInUse)
	}
	// Hold the write lock from now on, so no server can start writing.
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		if isBusy(err) {
			return fmt.Errorf("restore: %w", errInUse)
		}
		return fmt.Errorf("restore: %w", err)
	}
	var pages int64
	_ = conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&pages)
	saved := ""
	if pages > 0 {
		saved = fmt.Sprintf("%s.before-restore-%s", dbPath, time.Now().UTC().Format("20060102T150405Z"))
		// VACUUM INTO may run inside no transaction: end ours, then take
		// the copy; nothing else can have opened the file in between
		// without our noticing below (the backup step needs the lock).
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", saved); err != nil {
			return fmt.Errorf("restore: saving the current database first: %w", err)
		}
		if err := os.Chmod(saved, 0o600); err != nil { // it holds password hashes too
			return fmt.Errorf("restore: %w", err)
		}
	} else if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	src, err := rawSQLite(file, true)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	srcConn, err := src.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer srcConn.Close()
	err = conn.Raw(func(d any) error {
		return srcConn.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			for {
				done, err := b.Step(-1)
				if err != nil {
					_ = b.Finish()
					return err
				}
				if done {
					return b.Finish()
				}
			}
		})
	})
	if err != nil {
		if isBusy(err) {
			return fmt.Errorf("restore: %w", errInUse)
		}
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	conn.Close()
	dst.Close()
	if _, err := verifySQLite(ctx, dbPath); err != nil {
		return fmt.Errorf("restore: the restored database failed verification: %w", err)
	}
	if saved != "" {
		fmt.Fprintf(stdout, "Saved the database being replaced as %s.\n", saved)
	}
	fmt.Fprintf(stdout, "Restored %s from %s: %d users, integrity check ok.\n", dbPath, file, users)
	return nil
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// checkBackupSchema opens a scratch copy of the backup as the server would
// (migrations applied) and refuses the backup when that fails: a file
// with a users table but not a Gatehouse schema this binary can run (an
// unrelated database, a half-migrated one, one from a newer release) is
// refused before anything is replaced, instead of leaving a server that
// will not start.
func checkBackupSchema(ctx context.Context, file string) error {
	dir, err := os.MkdirTemp("", "gatehouse-restore-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scratch := filepath.Join(dir, "check.db")
	src, err := os.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(scratch, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	db, err := models.Open(ctx, scratch)
	if err != nil {
		return fmt.Errorf("%s is not a Gatehouse database this version can run: %w", file, err)
	}
	return models.Close(db)
}
