package models

import (
	"context"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/secret"
)

// Known browsers (OWASP's "device cookie"): at login a browser presents a
// long-lived random cookie; only its SHA-256 is stored per user. A login
// from a browser whose cookie the account has not seen records an event
// and mails a notice. An account with no known browser yet (the first
// login after this feature, or after sign-up) learns its first one
// silently: there is nothing to compare with.

// KnownDevice is a browser an account has signed in from.
type KnownDevice struct {
	ID         uint      `gorm:"primaryKey"`
	UserID     uint      `gorm:"not null;index:idx_known_devices_user_hash,priority:1"`
	User       *User     `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	TokenHash  string    `gorm:"size:64;not null;index:idx_known_devices_user_hash,priority:2"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
}

func init() { allModels = append(allModels, &KnownDevice{}) }

// Known-device events and mail.
const (
	EventNewDevice EventKind = "new_device_sign_in"
	// KindNewDevice tells the account of a sign-in from a new browser.
	KindNewDevice = "new_device"
)

// maxKnownDevices bounds the rows one account keeps; the least recently
// used go first.
const maxKnownDevices = 50

// DeviceCookieValid reports whether a device cookie has the form of one
// (the same form as a session token).
func DeviceCookieValid(token string) bool { return secret.Valid(token) }

// NewDeviceToken returns a fresh random device cookie value.
func NewDeviceToken() (string, error) { return secret.New() }

// noteDevice records the login's browser inside the login transaction:
// a known one is touched; an unknown one is stored and, when the account
// already knows others, recorded and notified by mail. token "" (no
// cookie) counts as unknown but stores nothing.
func noteDevice(tx *gorm.DB, ctx context.Context, u *User, token string) error {
	now := time.Now().UTC()
	hash := ""
	if DeviceCookieValid(token) {
		hash = secret.HashIn("gatehouse device\x00", token)
		res := tx.Model(&KnownDevice{}).Where("user_id = ? AND token_hash = ?", u.ID, hash).Update("last_used_at", now)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
	}
	var known int64
	if err := tx.Model(&KnownDevice{}).Where("user_id = ?", u.ID).Count(&known).Error; err != nil {
		return err
	}
	if hash != "" {
		if known >= maxKnownDevices {
			var oldest KnownDevice
			if err := tx.Where("user_id = ?", u.ID).Order("last_used_at, id").Take(&oldest).Error; err != nil {
				return err
			}
			if err := tx.Delete(&oldest).Error; err != nil {
				return err
			}
		}
		if err := tx.Create(&KnownDevice{UserID: u.ID, TokenHash: hash, CreatedAt: now, LastUsedAt: now}).Error; err != nil {
			return err
		}
	}
	if known == 0 {
		return nil
	}
	if err := recordEvent(tx, ctx, userEvent(EventNewDevice, u, nil, "")); err != nil {
		return err
	}
	if u.Email == "" {
		return nil
	}
	ci := clientInfo(ctx)
	browser, system := DescribeAgent(ci.UserAgent)
	return enqueue(tx, KindNewDevice, &u.ID, u.Email, map[string]string{
		"username": u.Username, "when": now.Format(time.RFC3339), "ip": ci.IP, "browser": browser + " on " + system,
	})
}
