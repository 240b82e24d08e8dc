package websession

import (
	"context"
	"gatehouse/models"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"
)

// A session's last_seen_at (and, for a session that is not remembered, its
// idle expiry) moves along at most once a minute. The request that finds it
// due does not write it: it queues the touch, and FlushTouches writes every
// queued touch in one transaction a few seconds later (App.Run calls it
// every TouchFlushEvery, and once more at shutdown).
//
// Why: on SQLite every committed write makes every other connection drop
// its whole page cache, so a thousand active sessions written one by one
// (seventeen writes a second) kept the readers re-reading the file; on
// PostgreSQL each was a statement and a commit of its own. A touch is best
// effort: one lost to a crash only leaves last_seen_at older, and the next
// request queues it again. It never shortens an expiry, whatever changed
// the row in between, and a row that is gone is not recreated.

// TouchFlushEvery is how often queued touches are written.
const TouchFlushEvery = 5 * time.Second

// maxQueuedTouches bounds the queue; beyond it touches are dropped until the
// next flush (their sessions queue them again on their next request).
const maxQueuedTouches = 100_000

// touchChunk is how many touches one transaction writes.
const touchChunk = 500

type sessionTouch struct {
	seen time.Time
	// expires, when not zero, is the idle expiry to move to (never back).
	expires time.Time
}

type touchQueue struct {
	mu      sync.Mutex
	pending map[string]sessionTouch
}

// queueTouch records that session id was seen at seen, moving its expiry
// to expires (zero: leave it).
func (s *SessionStore) queueTouch(id string, seen, expires time.Time) {
	q := &s.touches
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = map[string]sessionTouch{}
	}
	if _, ok := q.pending[id]; !ok && len(q.pending) >= maxQueuedTouches {
		return
	}
	q.pending[id] = sessionTouch{seen: seen, expires: expires}
}

// FlushTouches writes the queued touches, in transactions of up to
// touchChunk rows, in ID order (so two instances flushing at once take
// their row locks in the same order). Touches that could not be written
// are dropped: their sessions queue them again.
func (s *SessionStore) FlushTouches(ctx context.Context) error {
	q := &s.touches
	q.mu.Lock()
	pending := q.pending
	q.pending = nil
	q.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, touchChunk) {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for _, id := range chunk {
				t := pending[id]
				up := map[string]any{"last_seen_at": t.seen}
				if !t.expires.IsZero() {
					up["expires_at"] = gorm.Expr("CASE WHEN expires_at < ? THEN ? ELSE expires_at END", t.expires, t.expires)
				}
				if err := tx.Model(&models.Session{}).Where("id = ? AND last_seen_at < ?", id, t.seen).Updates(up).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return models.DBError("write last_seen_at", err)
		}
	}
	return nil
}

// RunTouches writes queued touches every interval (TouchFlushEvery when
// 0) until ctx ends, then once more.
func (s *SessionStore) RunTouches(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = TouchFlushEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := s.FlushTouches(last)
			cancel()
			if err != nil {
				s.log.Warn("write last_seen_at at shutdown", "err", err)
			}
			return
		case <-t.C:
			if err := s.FlushTouches(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("write last_seen_at", "err", err)
			}
		}
	}
}
