package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// sqliteCacheKiB is each SQLite connection's page cache (PRAGMA cache_size:
// negative is KiB), 16 MB.
const sqliteCacheKiB = -16000

// quickCheckCacheKiB is the page cache a quick_check runs with. The check
// reads every page of the file once, so a big cache does not speed it up,
// and what it fills stays allocated with its pooled connection: on a
// 400 MB database the start-up check left 16 MB of pages behind, a third
// of the server's idle RSS.
const quickCheckCacheKiB = -256

// QuickCheck runs SQLite's PRAGMA quick_check over the whole file and
// returns ErrCorrupt, with SQLite's first findings, when it is damaged. Open
// runs it at start so a corrupt file stops the server with a clear message
// instead of failing requests one by one. Other databases check themselves.
//
// It runs on a connection of its own with a small page cache
// (quickCheckCacheKiB), which it sets back to the pool's size afterwards;
// lowering the size frees the pages above it, so the check leaves no more
// memory behind than that.
func QuickCheck(ctx context.Context, db *gorm.DB) error {
	if db.Dialector.Name() != "sqlite" {
		return nil
	}
	sqlDB, err := db.DB()
	if err != nil {
		return dbErr("quick check", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return dbErr("quick check", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size=%d", quickCheckCacheKiB)); err != nil {
		return dbErr("quick check", err)
	}
	found, err := quickCheck(ctx, conn)
	// Back to the pool's size even when the check failed or ctx ended;
	// a connection that cannot be reset is not put back in the pool.
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size=%d", sqliteCacheKiB)); rerr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if err != nil {
		return dbErr("quick check", err)
	}
	if len(found) != 1 || found[0] != "ok" {
		return fmt.Errorf("quick check: %w: %s", ErrCorrupt, strings.Join(found, "; "))
	}
	return nil
}

// quickCheck returns what PRAGMA quick_check(5) says on conn.
func quickCheck(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		found = append(found, line)
	}
	return found, rows.Err()
}

// Probe checks that the database can be read and written, for a readiness
// endpoint. A check reads a row and makes a small write in a transaction it
// rolls back, so it takes the write lock (and fails while another process
// holds it too long) but leaves nothing behind. Results are kept for the
// probe's interval and concurrent callers share one check, so a flood of
// probes costs at most one check per interval.
type Probe struct {
	db       *gorm.DB
	interval time.Duration

	mu   sync.Mutex
	file os.FileInfo // the SQLite file as first checked
	// fileFault is set (for good) once the file was found removed or
	// replaced; pageFault holds the last failed quick_check (nil after a
	// clean one). Both are found by Watch, in the background.
	fileFault error
	pageFault error
	at        time.Time
	err       error
	running   chan struct{} // closed when the check in flight ends
}

// NewProbe returns a probe of db whose results are reused for interval.
// The database file is noted now, so a later replacement is seen.
func NewProbe(db *gorm.DB, interval time.Duration) *Probe {
	p := &Probe{db: db, interval: interval}
	_ = p.checkFile(context.Background())
	return p
}

// probeTimeout bounds one check: a lock held longer than this is a fault.
const probeTimeout = 5 * time.Second

// Check returns nil when the database was readable and writable at most
// one interval ago, else the (wrapped ErrUnavailable or ErrCorrupt) error.
// It waits for a check in flight until ctx ends.
func (p *Probe) Check(ctx context.Context) error {
	if err := p.Fault(); err != nil {
		return err
	}
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < p.interval {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if p.running == nil {
		p.running = make(chan struct{})
		go p.run()
	}
	done := p.running
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("readiness check: %w: no answer in time", ErrUnavailable)
	}
}

func (p *Probe) run() {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	err := p.check(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err, p.at = err, time.Now()
	close(p.running)
	p.running = nil
}

func (p *Probe) check(ctx context.Context) error {
	if err := p.checkFile(ctx); err != nil {
		return err
	}
	// database/sql directly (no statement cache for the throw-away DDL),
	// through SQLite's write gate.
	tx, end, err := BeginRawTx(ctx, p.db)
	if err != nil {
		return dbErr("readiness check: begin", err)
	}
	defer end()
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1) AS probe").Scan(&one); err != nil {
		return dbErr("readiness check: read", err)
	}
	// A table created and rolled back: a real write on any schema that
	// leaves no row and no table behind.
	if _, err := tx.ExecContext(ctx, "CREATE TABLE gatehouse_readiness_probe (x INTEGER)"); err != nil {
		return dbErr("readiness check: write", err)
	}
	if err := tx.Rollback(); err != nil {
		return dbErr("readiness check: roll back", err)
	}
	return nil
}

// checkFile fails when the SQLite file was removed or replaced since the
// first check: the server would go on reading and writing the old file
// through its open handles (SQLite does not notice in WAL mode), and every
// write would be lost at restart.
func (p *Probe) checkFile(ctx context.Context) error {
	if p.db.Dialector.Name() != "sqlite" {
		return nil
	}
	var seq int
	var name, file string
	if err := p.db.WithContext(ctx).Raw("PRAGMA database_list").Row().Scan(&seq, &name, &file); err != nil {
		return dbErr("readiness check: database list", err)
	}
	if file == "" {
		return nil // in memory
	}
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("readiness check: %w: database file: %w", errFileGone, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == nil {
		p.file = fi
	}
	if !os.SameFile(p.file, fi) {
		return fmt.Errorf("readiness check: %w: %s was replaced by another file; restart to use it", errFileGone, file)
	}
	return nil
}

// errFileGone is checkFile's finding that the file itself is gone or
// another one (ErrCorrupt for the requests that meet it). Only it sets
// Watch's file fault: a damaged page that fails checkFile's query is the
// requests' (500) and the quick_check's to report, not a reason to answer
// 503 until restart.
var errFileGone = fmt.Errorf("%w: the database file was removed or replaced", ErrCorrupt)

// FileFault is the fault Watch found in the file's identity: the SQLite
// file was removed or replaced under the running server, whose open
// handles still point at the old file, so every write would be
// acknowledged and lost. It stays set until restart.
func (p *Probe) FileFault() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fileFault
}

// Fault is FileFault, else the last failed background quick_check.
func (p *Probe) Fault() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fileFault != nil {
		return p.fileFault
	}
	return p.pageFault
}

// Watch runs until ctx ends (SQLite only): it checks the file's identity
// every fileEvery and runs PRAGMA quick_check every quickEvery (a damaged
// page the readiness probe's one-row read would not touch), logging each
// change of state once.
func (p *Probe) Watch(ctx context.Context, log *slog.Logger, fileEvery, quickEvery time.Duration) {
	if p.db.Dialector.Name() != "sqlite" {
		return
	}
	fileTick := time.NewTicker(fileEvery)
	defer fileTick.Stop()
	quickTick := time.NewTicker(quickEvery)
	defer quickTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fileTick.C:
			if p.FileFault() != nil {
				continue
			}
			err := p.checkFile(ctx)
			if err == nil || ctx.Err() != nil || !errors.Is(err, errFileGone) {
				continue
			}
			p.mu.Lock()
			p.fileFault = err
			p.mu.Unlock()
			log.Error("database file removed or replaced under the running server: answering 503 until restarted, so no write is acknowledged and lost", "err", err)
		case <-quickTick.C:
			qctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := QuickCheck(qctx, p.db)
			cancel()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			was := p.pageFault
			p.pageFault = nil
			if err != nil {
				p.pageFault = fmt.Errorf("integrity check: %w", err)
			}
			p.mu.Unlock()
			switch {
			case err != nil && was == nil:
				log.Error("database damaged: the background quick_check failed; restore it from a backup", "err", err)
			case err == nil && was != nil:
				log.Info("database quick_check passes again")
			}
		}
	}
}
