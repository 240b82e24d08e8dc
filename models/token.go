package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/secret"
)

// ErrInvalidToken reports a one-time token that is malformed, unknown,
// expired or already used. Callers do not learn which: the page is the same.
var ErrInvalidToken = errors.New("invalid or expired token")

// DefaultResetTimeout is how long a reset link works (Django's
// PASSWORD_RESET_TIMEOUT is three days; an hour is plenty for an e-mail).
const DefaultResetTimeout = time.Hour

// Token purposes. A token is only ever accepted for the purpose it was
// issued for.
const (
	PurposePasswordReset = "password_reset"
)

// OneTimeToken is an e-mailed one-time link (password reset, e-mail
// confirmation …). Only the SHA-256 of the token is stored, so a copy of the
// table cannot be turned into links. A token is used up by one conditional
// UPDATE, so of parallel uses exactly one wins.
type OneTimeToken struct {
	ID        uint   `gorm:"primaryKey"`
	Purpose   string `gorm:"size:32;not null;index:idx_token_user_purpose,priority:2"`
	UserID    uint   `gorm:"not null;index:idx_token_user_purpose,priority:1"`
	User      *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	TokenHash string `gorm:"size:64;not null;uniqueIndex"`
	// Payload is what the token confirms beyond the user (a new e-mail
	// address, say); empty for a reset.
	Payload string `gorm:"size:1024;not null;default:''"`
	// OutboxID is the message that mailed the token, so a retried send
	// voids the token it issued before.
	OutboxID  *uint     `gorm:"index"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null"`
}

func init() { allModels = append(allModels, &OneTimeToken{}) }

// Tokens holds the one-time token operations.
type Tokens struct {
	db *gorm.DB
}

// NewTokens returns the token operations over db.
func NewTokens(db *gorm.DB) *Tokens { return &Tokens{db: db} }

// TokenHash validates a token's form (43 base64url characters of 32 bytes)
// and returns the hash under which it is stored. Anything else is
// ErrInvalidToken, before any database work.
func TokenHash(token string) (string, error) {
	if !secret.Valid(token) {
		return "", ErrInvalidToken
	}
	return secret.Hash(token), nil
}

// validHash reports whether s looks like a stored token hash, so a value
// read back from a session is never trusted blindly.
func validHash(s string) bool { return secret.ValidHash(s) }

// TokenIssue describes a token to issue.
type TokenIssue struct {
	Purpose  string
	UserID   uint
	Payload  string
	TTL      time.Duration
	OutboxID *uint
	// Token, when set, is the token to issue (derived from its message)
	// instead of a random one: issuing it again renews the expiry of its
	// row while it is unused and creates no second row.
	Token string
}

// issueToken stores a new token inside tx and returns it; only its hash is
// stored. A token issued for an outbox message replaces (voids) any token
// that message issued on an earlier attempt.
func issueToken(tx *gorm.DB, ti TokenIssue) (string, error) {
	token := ti.Token
	if token == "" {
		var err error
		if token, err = secret.New(); err != nil {
			return "", fmt.Errorf("token: %w", err)
		}
	}
	hash, err := TokenHash(token)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	now := time.Now().UTC()
	if ti.Token != "" {
		// Issued before (a retried send): the same link, still one use.
		res := tx.Model(&OneTimeToken{}).Where("token_hash = ?", hash).
			Update("expires_at", gorm.Expr("CASE WHEN used_at IS NULL THEN ? ELSE expires_at END", now.Add(ti.TTL)))
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected == 1 {
			return token, nil
		}
	}
	if ti.OutboxID != nil {
		if err := tx.Model(&OneTimeToken{}).Where("outbox_id = ? AND used_at IS NULL", *ti.OutboxID).
			Update("used_at", now).Error; err != nil {
			return "", err
		}
	}
	row := OneTimeToken{Purpose: ti.Purpose, UserID: ti.UserID, TokenHash: hash, Payload: ti.Payload,
		OutboxID: ti.OutboxID, ExpiresAt: now.Add(ti.TTL), CreatedAt: now}
	if err := tx.Create(&row).Error; err != nil {
		return "", err
	}
	return token, nil
}

// Issue stores a new token and returns it (tests and tools; flows issue
// tokens inside their own transaction).
func (t *Tokens) Issue(ctx context.Context, ti TokenIssue) (string, error) {
	var token string
	err := t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		token, err = issueToken(tx, ti)
		return err
	})
	return token, dbErr("issue token", err)
}

// Check returns the usable (unused, unexpired) token with that hash and
// purpose, or ErrInvalidToken. It does not use the token up.
func (t *Tokens) Check(ctx context.Context, purpose, hash string) (*OneTimeToken, error) {
	if !validHash(hash) {
		return nil, ErrInvalidToken
	}
	var row OneTimeToken
	err := t.db.WithContext(ctx).Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
		hash, purpose, time.Now().UTC()).Limit(1).Find(&row).Error
	if err != nil {
		return nil, dbErr("check token", err)
	}
	if row.ID == 0 {
		return nil, ErrInvalidToken
	}
	return &row, nil
}

// ConsumeToken uses the token up inside tx: one conditional UPDATE, so of
// parallel uses exactly one sees RowsAffected == 1. It returns the token's
// row as it was, or ErrInvalidToken.
func ConsumeToken(tx *gorm.DB, purpose, hash string, now time.Time) (*OneTimeToken, error) {
	if !validHash(hash) {
		return nil, ErrInvalidToken
	}
	res := tx.Model(&OneTimeToken{}).
		Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", hash, purpose, now).
		Update("used_at", now)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected != 1 {
		return nil, ErrInvalidToken
	}
	var row OneTimeToken
	if err := tx.Where("token_hash = ?", hash).Take(&row).Error; err != nil {
		return nil, err
	}
	return &row, nil
}

// VoidTokens marks every outstanding token of userID used, inside tx: called
// whenever the user's password, e-mail address or active status changes, so
// a link mailed before the change cannot undo it.
func VoidTokens(tx *gorm.DB, userID uint, now time.Time) error {
	return tx.Model(&OneTimeToken{}).Where("user_id = ? AND used_at IS NULL", userID).
		Update("used_at", now).Error
}

// DeleteExpired removes tokens past their expiry and returns how many.
func (t *Tokens) DeleteExpired(ctx context.Context) (int64, error) {
	res := t.db.WithContext(ctx).Where("expires_at <= ?", time.Now().UTC()).Delete(&OneTimeToken{})
	return res.RowsAffected, dbErr("delete expired tokens", res.Error)
}
