package handlers

import (
	"log/slog"

	"gorm.io/gorm"

	"gatehouse/metrics"
	"gatehouse/models"
)

// watchMetrics connects the metrics that read state (hash slots, the
// connection pool, session rows) to it. m may be nil (metrics off).
func watchMetrics(log *slog.Logger, m *metrics.Metrics, db *gorm.DB, hasher *models.Hasher) {
	if m == nil {
		return
	}
	m.WatchHasher(hasher)
	if err := m.WatchDB(db); err != nil {
		log.Warn("database metrics off", "err", err)
	}
}

// countEvent counts a security event, and a login's outcome when it is one.
// A failed login linked to an account (the event carries its ID) was a
// wrong password; one that is not, an unknown username.
func (h *Handler) countEvent(e models.AuthEvent) {
	m := h.cfg.Metrics
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
