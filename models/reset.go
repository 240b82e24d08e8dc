package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrInvalidToken reports a password-reset token that is malformed, unknown,
// expired or already used. Callers do not learn which: the page is the same.
var ErrInvalidToken = errors.New("invalid or expired token")

// DefaultResetTimeout is how long a reset link works (Django's
// PASSWORD_RESET_TIMEOUT is three days; an hour is plenty for an e-mail).
const DefaultResetTimeout = time.Hour

// resetTokenBytes is the token's entropy; its base64url form is 43
// characters without padding.
const resetTokenBytes = 32

// PasswordResetToken is one e-mailed reset link. Only the SHA-256 of the
// token is stored, so a copy of the table cannot be turned into links.
type PasswordResetToken struct {
	ID        uint      `gorm:"primaryKey"`
	UserID    uint      `gorm:"not null;index:idx_reset_user_created,priority:1"`
	User      *User     `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	TokenHash string    `gorm:"size:64;not null;uniqueIndex"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null;index:idx_reset_user_created,priority:2"`
}

func init() { allModels = append(allModels, &PasswordResetToken{}) }

// PasswordResets holds the reset-token operations.
type PasswordResets struct {
	db *gorm.DB
}

// NewPasswordResets returns the reset-token operations over db.
func NewPasswordResets(db *gorm.DB) *PasswordResets { return &PasswordResets{db: db} }

// ResetTokenHash validates a token's form (43 base64url characters of 32
// bytes) and returns the hash under which it is stored. Anything else is
// ErrInvalidToken, before any database work.
func ResetTokenHash(token string) (string, error) {
	if len(token) != 43 {
		return "", ErrInvalidToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != resetTokenBytes {
		return "", ErrInvalidToken
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]), nil
}

// validHash reports whether s looks like a stored token hash, so a value
// read back from a session is never trusted blindly.
func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Create issues a new token for userID valid for ttl and returns it; only
// its hash is stored.
func (p *PasswordResets) Create(ctx context.Context, userID uint, ttl time.Duration) (string, error) {
	b := make([]byte, resetTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reset token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	hash, _ := ResetTokenHash(token)
	now := time.Now().UTC()
	row := PasswordResetToken{UserID: userID, TokenHash: hash, ExpiresAt: now.Add(ttl), CreatedAt: now}
	if err := p.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", dbErr("create reset token", err)
	}
	return token, nil
}

// Check returns the user a usable (unused, unexpired) token hash belongs to,
// or ErrInvalidToken. It does not use the token up.
func (p *PasswordResets) Check(ctx context.Context, hash string) (uint, error) {
	if !validHash(hash) {
		return 0, ErrInvalidToken
	}
	var row PasswordResetToken
	err := p.db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", hash, time.Now().UTC()).
		Limit(1).Find(&row).Error
	if err != nil {
		return 0, dbErr("check reset token", err)
	}
	if row.ID == 0 {
		return 0, ErrInvalidToken
	}
	return row.UserID, nil
}

// PendingSince reports whether userID has an unused, unexpired token issued
// after since: the reset flow's throttle, so repeated requests do not flood
// a mailbox.
func (p *PasswordResets) PendingSince(ctx context.Context, userID uint, since time.Time) (bool, error) {
	var n int64
	err := p.db.WithContext(ctx).Model(&PasswordResetToken{}).
		Where("user_id = ? AND used_at IS NULL AND created_at > ? AND expires_at > ?", userID, since, time.Now().UTC()).
		Limit(1).Count(&n).Error
	return n > 0, dbErr("check pending reset", err)
}

// DeleteExpired removes tokens past their expiry and returns how many.
func (p *PasswordResets) DeleteExpired(ctx context.Context) (int64, error) {
	res := p.db.WithContext(ctx).Where("expires_at <= ?", time.Now().UTC()).Delete(&PasswordResetToken{})
	return res.RowsAffected, dbErr("delete expired reset tokens", res.Error)
}

// voidResetTokens marks every outstanding token of userID used, inside tx.
func voidResetTokens(tx *gorm.DB, userID uint, now time.Time) error {
	return tx.Model(&PasswordResetToken{}).Where("user_id = ? AND used_at IS NULL", userID).
		Update("used_at", now).Error
}

// beforeConsume, when set by a test, runs after the token was checked and
// before it is used up, so the test can line parallel uses up at the race.
var beforeConsume func()

// ResetPassword completes a password reset: it validates password for the
// token's user, then in one transaction uses the token up (atomically, so of
// two parallel uses exactly one wins), stores the new hash, voids the user's
// other tokens and ends every session of the user. A token that is not
// usable gives ErrInvalidToken; a refused password a *ValidationError on
// "password".
func (u *Users) ResetPassword(ctx context.Context, tokenHash, password string) (*User, error) {
	userID, err := NewPasswordResets(u.db).Check(ctx, tokenHash)
	if err != nil {
		return nil, err
	}
	user, err := u.ByID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	if !user.IsActive {
		return nil, ErrInvalidToken
	}
	if msgs := ValidatePassword(password, user.Username, user.Email); len(msgs) > 0 {
		return nil, &ValidationError{Fields: map[string][]string{"password": msgs}}
	}
	hash, err := u.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	if beforeConsume != nil {
		beforeConsume()
	}
	err = u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := time.Now().UTC()
		res := tx.Model(&PasswordResetToken{}).
			Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", tokenHash, now).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvalidToken
		}
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("password", hash).Error; err != nil {
			return err
		}
		if err := voidResetTokens(tx, user.ID, now); err != nil {
			return err
		}
		return tx.Where("user_id = ?", user.ID).Delete(&Session{}).Error
	})
	if errors.Is(err, ErrInvalidToken) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, dbErr("reset password", err)
	}
	user.Password = hash
	return user, nil
}
