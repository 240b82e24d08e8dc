package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Sessions holds the session-table operations outside a request.
type Sessions struct {
	db *gorm.DB
}

// NewSessions returns the session operations over db.
func NewSessions(db *gorm.DB) *Sessions { return &Sessions{db: db} }

// ForUser lists userID's unexpired sessions, most recently seen first.
func (s *Sessions) ForUser(ctx context.Context, userID uint) ([]Session, error) {
	var rows []Session
	err := s.db.WithContext(ctx).Where("user_id = ? AND expires_at > ?", userID, time.Now().UTC()).
		Order("last_seen_at DESC").Find(&rows).Error
	return rows, dbErr("list sessions", err)
}

// DeleteExpired removes sessions past their expiry and returns how many.
func (s *Sessions) DeleteExpired(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", time.Now().UTC()).Delete(&Session{})
	return res.RowsAffected, dbErr("delete expired sessions", res.Error)
}

// SessionPublicID is the identifier of a session shown on pages and posted
// back to revoke it: a digest of the row ID, so a page (or its cache, or a
// screenshot) never holds the stored ID, let alone the cookie token.
func SessionPublicID(rowID string) string {
	sum := sha256.Sum256([]byte("gatehouse session public id\x00" + rowID))
	return hex.EncodeToString(sum[:12])
}

// ValidPublicID reports whether s has the form of a SessionPublicID.
func ValidPublicID(s string) bool {
	return len(s) == 24 && strings.Trim(s, "0123456789abcdef") == ""
}
