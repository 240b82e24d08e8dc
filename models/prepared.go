package models

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// Prepared is a hot-path statement prepared once on the pool (placeholders
// rebound for the database) and run without GORM: no SQL built, no
// reflection per request. A failed preparation (the database unavailable
// then) is not kept, so the next request tries again.
type Prepared struct {
	db    *gorm.DB
	query func(db *gorm.DB) string
	mu    sync.Mutex
	st    atomic.Pointer[sql.Stmt]
}

// NewPrepared returns the statement query builds for db, prepared on first
// use.
func NewPrepared(db *gorm.DB, query func(db *gorm.DB) string) *Prepared {
	return &Prepared{db: db, query: query}
}

// Stmt returns the prepared statement, preparing it if need be under ctx
// (pass context.WithoutCancel to keep a cancelled request from failing
// the preparation).
func (p *Prepared) Stmt(ctx context.Context) (*sql.Stmt, error) {
	if st := p.st.Load(); st != nil {
		return st, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.st.Load(); st != nil {
		return st, nil
	}
	sqlDB, err := p.db.DB()
	if err != nil {
		return nil, err
	}
	st, err := sqlDB.PrepareContext(ctx, Rebind(p.db, p.query(p.db)))
	if err != nil {
		return nil, err
	}
	p.st.Store(st)
	return st, nil
}
