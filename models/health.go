package models

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// QuickCheck runs SQLite's PRAGMA quick_check over the whole file and
// returns ErrCorrupt, with SQLite's first findings, when it is damaged. Open
// runs it at start so a corrupt file stops the server with a clear message
// instead of failing requests one by one. Other databases check themselves.
func QuickCheck(ctx context.Context, db *gorm.DB) error {
	if db.Dialector.Name() != "sqlite" {
		return nil
	}
	rows, err := db.WithContext(ctx).Raw("PRAGMA quick_check(5)").Rows()
	if err != nil {
		return dbErr("quick check", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return dbErr("quick check", err)
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		return dbErr("quick check", err)
	}
	if len(found) != 1 || found[0] != "ok" {
		return fmt.Errorf("quick check: %w: %s", ErrCorrupt, strings.Join(found, "; "))
	}
	return nil
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

	mu      sync.Mutex
	file    os.FileInfo // the SQLite file as first checked
	at      time.Time
	err     error
	running chan struct{} // closed when the check in flight ends
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
	sqlDB, err := p.db.DB()
	if err != nil {
		return fmt.Errorf("readiness check: %w", err)
	}
	// database/sql directly: no statement cache for the throw-away DDL.
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("readiness check: begin", err)
	}
	defer func() { _ = tx.Rollback() }()
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
		return fmt.Errorf("readiness check: %w: database file: %v", ErrCorrupt, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == nil {
		p.file = fi
	}
	if !os.SameFile(p.file, fi) {
		return fmt.Errorf("readiness check: %w: %s was replaced by another file; restart to use it", ErrCorrupt, file)
	}
	return nil
}
