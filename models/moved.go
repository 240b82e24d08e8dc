package models

import (
	"time"

	"gorm.io/gorm"
)

func NewValidationError() *ValidationError { return &ValidationError{Fields: map[string][]string{}} }

func RetryMail(tx *gorm.DB, ids []uint, allFailed bool) (int64, error) {
	now := time.Now().UTC()
	failed := tx.Model(&OutboxMessage{}).Where("failed_at IS NOT NULL AND sent_at IS NULL AND dropped_at IS NULL")
	if !allFailed {
		failed = failed.Where("id IN ?", ids)
	}
	res := failed.Updates(map[string]any{"failed_at": nil, "next_attempt_at": now, "claimed_until": nil,
		"attempts": 0, "created_at": now})
	if res.Error != nil || allFailed {
		return res.RowsAffected, res.Error
	}
	n := res.RowsAffected
	res = tx.Model(&OutboxMessage{}).Where("id IN ? AND next_attempt_at > ?", ids, now).
		Where("sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)", now).
		Update("next_attempt_at", now)
	return n + res.RowsAffected, res.Error
}

const MinSecretKeyLen = 32
