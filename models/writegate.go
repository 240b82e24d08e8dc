package models

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// writeGate lets one SQLite write transaction at a time take a connection.
//
// SQLite has one write lock, and under _txlock=immediate every transaction
// takes it at BEGIN. Without the gate, a burst of writers each takes a pool
// connection and then waits for the lock inside SQLite's busy handler,
// holding that connection. If the transaction that holds the lock then
// needs the pool — GORM's statement cache prepares a statement seen for the
// first time on the pool, and every caller of that statement waits for the
// preparation (go-gorm/gorm#7465) — nothing moves until the busy timeout
// fails the waiting writers with "database is locked". Queued here, in Go,
// before a connection is taken, writers leave the pool to readers, and the
// lock's holder never waits for a connection a waiting writer holds.
//
// GORM begins every transaction here, including the single-statement ones
// it opens around a Create, Update or Delete outside a transaction (Open
// leaves SkipDefaultTransaction off on SQLite for this reason). Only other
// processes (the CLI, a backup) still meet SQLite's busy handler.
type writeGate struct {
	*sql.DB
	slot chan struct{}
	wait time.Duration // the longest a writer queues: the busy timeout
}

func newWriteGate(db *sql.DB, wait time.Duration) *writeGate {
	return &writeGate{DB: db, slot: make(chan struct{}, 1), wait: wait}
}

// GetDBConn lets gorm.DB.DB() reach the pool.
func (g *writeGate) GetDBConn() (*sql.DB, error) { return g.DB, nil }

// BeginTx waits for the write slot (as long as the busy timeout, or until
// ctx ends), then begins the transaction, which gives the slot back when
// it commits or rolls back. It shadows sql.DB's BeginTx with GORM's
// ConnPoolBeginner signature, so GORM begins through it.
func (g *writeGate) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, release, err := g.begin(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &gatedTx{Tx: tx, release: release}, nil
}

// errGateTimeout is SQLite's own answer to a lock held too long ("database
// is locked"), which DBError maps to ErrUnavailable.
var errGateTimeout error = sqlite3.Error{Code: sqlite3.ErrBusy}

func (g *writeGate) begin(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, func(), error) {
	select {
	case g.slot <- struct{}{}:
	default:
		timer := time.NewTimer(g.wait)
		defer timer.Stop()
		select {
		case g.slot <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-timer.C:
			return nil, nil, errGateTimeout
		}
	}
	var released atomic.Bool
	release := func() {
		if released.CompareAndSwap(false, true) {
			<-g.slot
		}
	}
	tx, err := g.DB.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, nil, err
	}
	return tx, release, nil
}

// gatedTx is a transaction that holds the write slot until it ends.
type gatedTx struct {
	*sql.Tx
	release func()
}

func (t *gatedTx) Commit() error {
	defer t.release()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.release()
	return t.Tx.Rollback()
}

// BeginRawTx begins a database/sql transaction on db's pool, through the
// SQLite write gate when there is one, for code that bypasses GORM (and
// its statement cache); end always returns the write slot, and is safe to
// call after Commit or Rollback.
func BeginRawTx(ctx context.Context, db *gorm.DB) (tx *sql.Tx, end func(), err error) {
	pool := db.ConnPool
	if p, ok := pool.(*gorm.PreparedStmtDB); ok {
		pool = p.ConnPool
	}
	if g, ok := pool.(*writeGate); ok {
		tx, release, err := g.begin(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, func() { _ = tx.Rollback(); release() }, nil
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, nil, err
	}
	tx, err = sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	return tx, func() { _ = tx.Rollback() }, nil
}
