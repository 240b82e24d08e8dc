package handlers

import (
	"context"
	"log/slog"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/metrics"
	"gatehouse/models"
)

// watchMetrics connects the metrics that read state (hash slots, the
// connection pool, session rows, the outbox) to it, and counts security
// events as the flows record them (a GORM callback on the events table, so
// the flows need no calls of their own). m may be nil (metrics off).
func watchMetrics(log *slog.Logger, m *metrics.Metrics, db *gorm.DB, hasher *passhash.Hasher, outbox *models.Outbox) {
	if m == nil {
		return
	}
	m.WatchHasher(hasher)
	if err := m.WatchDB(db); err != nil {
		log.Warn("database metrics off", "err", err)
	}
	m.WatchOutbox(func(ctx context.Context) (int, int, error) {
		s, err := outbox.Stats(ctx)
		return int(s.Pending), int(s.Failed), err
	})
	err := db.Callback().Create().After("gorm:create").Register("metrics:auth_events", func(tx *gorm.DB) {
		if e, ok := tx.Statement.Dest.(*models.AuthEvent); ok && tx.Error == nil {
			countEvent(m, *e)
		}
	})
	if err != nil {
		log.Warn("security event metrics off", "err", err)
	}
}

// countEvent counts a security event, and a login's outcome when it is one.
// A failed login linked to an account (the event carries its ID) was a
// wrong password; one that is not, an unknown username. An event is counted
// when it is written, a moment before its transaction commits.
func countEvent(m *metrics.Metrics, e models.AuthEvent) {
	m.SecurityEvent(models.EventMetricLabel(e.Kind))
	switch e.Kind {
	case models.EventLoginSucceeded:
		m.Login(metrics.LoginSuccess)
	case models.EventSecondFactorPending:
		m.Login(metrics.LoginPendingSecondFactor)
	case models.EventLoginFailed:
		if e.UserID != nil {
			m.Login(metrics.LoginWrongPassword)
		} else {
			m.Login(metrics.LoginUnknownUser)
		}
	}
}
