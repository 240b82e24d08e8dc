package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// PendingEmailChange is an address change waiting for its link to be
// opened: the new address, and until when the link works (zero while the
// message is still queued, before its link exists).
type PendingEmailChange struct {
	Address string
	Until   time.Time
}

// FindPendingEmailChange returns the newest address change of userID that
// can still be confirmed: a confirmation message still waiting in the
// outbox, else an unused, unexpired change link. nil when there is
// none.
func FindPendingEmailChange(ctx context.Context, db *gorm.DB, userID uint) (*PendingEmailChange, error) {
	// A message still queued is the newest request; its link does not
	// exist yet.
	var msg OutboxMessage
	err := db.WithContext(ctx).Select("recipient").
		Where("user_id = ? AND kind = ? AND sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL", userID, KindEmailChangeConfirm).
		Order("id DESC").Take(&msg).Error
	if err == nil {
		return &PendingEmailChange{Address: msg.Recipient}, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, dbErr("find pending e-mail change", err)
	}
	var tok OneTimeToken
	err = db.WithContext(ctx).Select("payload", "expires_at").
		Where("user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", userID, PurposeEmailChange, time.Now().UTC()).
		Order("created_at DESC, id DESC").Take(&tok).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("find pending e-mail change", err)
	}
	return &PendingEmailChange{Address: tok.Payload, Until: tok.ExpiresAt}, nil
}
