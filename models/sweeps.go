package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// SweepJob is one kind of expired row the background sweep removes: what
// it removes (for logs and for clearsessions' report) and how.
type SweepJob struct {
	// What names the rows, plural, e.g. "expired session(s)".
	What string
	Run  func(context.Context) (int64, error)
}

// Sweeps is the one list of sweeps: the server runs each every sweep
// interval, and `gatehouse clearsessions` runs each once, so a cron entry
// does exactly what a running server does. eventRetention is how long
// security events are kept (EVENT_RETENTION).
func Sweeps(db *gorm.DB, eventRetention time.Duration) []SweepJob {
	if eventRetention <= 0 {
		eventRetention = DefaultEventRetention
	}
	return []SweepJob{
		{"expired session(s)", NewSessions(db).DeleteExpired},
		{"stale throttle counter(s)", NewThrottles(db).DeleteStale},
		{"expired one-time token(s)", NewTokens(db).DeleteExpired},
		{"old outbox message(s)", NewOutbox(db).DeleteOld},
		{"expired sign-in(s) through other providers", func(ctx context.Context) (int64, error) {
			return DeleteExpiredSocialFlows(ctx, db, time.Now().UTC())
		}},
		{"expired OpenID request(s) and token(s)", func(ctx context.Context) (int64, error) { return SweepOIDC(ctx, db) }},
		{"old security event(s)", func(ctx context.Context) (int64, error) {
			return NewEvents(db).DeleteOlderThan(ctx, eventRetention)
		}},
	}
}
