package handlers

import (
	"context"
	"log/slog"

	"gorm.io/gorm"

	"gatehouse/metrics"
	"gatehouse/models"
)

// watchMetrics connects the metrics that read state (hash slots, the
// connection pool, session rows, the outbox) and counts every security
// event the flows record (a GORM callback on the events table, so the
// flows in models need no metric calls). m may be nil (metrics off).
func watchMetrics(log *slog.Logger, m *metrics.Metrics, db *gorm.DB, hasher *models.Hasher, outbox *models.Outbox) {
	if m == nil {
		return
	}
	m.WatchHasher(hasher)
	if err := m.WatchDB(db); err != nil {
		log.Warn("database metrics off", "err", err)
	}
	m.WatchOutbox(func(ctx context.Context) (int64, int64, error) {
		s, err := outbox.Stats(ctx)
		return s.Pending, s.Failed, err
	})
	err := db.Callback().Create().After("gorm:create").Register("metrics:events", func(tx *gorm.DB) {
		if tx.Error != nil || tx.Statement.Table != "auth_events" {
			return
		}
		if e, ok := tx.Statement.Dest.(*models.AuthEvent); ok {
			countEvent(m, *e)
		}
	})
	if err != nil {
		log.Warn("security event metrics off", "err", err)
	}
}

// countEvent counts a security event, and a login's outcome when it is one.
// A failed login linked to an account (the event carries its ID) was a
// wrong password (or an inactive account); one that is not, an unknown
// username.
func countEvent(m *metrics.Metrics, e models.AuthEvent) {
	m.SecurityEvent(string(e.Kind))
	switch e.Kind {
	case models.EventLoginSucceeded:
		m.Login(metrics.LoginSuccess)
	case models.EventLoginFailed:
		if e.UserID != nil {
			m.Login(metrics.LoginWrongPassword)
		} else {
			m.Login(metrics.LoginUnknownUser)
		}
	}
}
