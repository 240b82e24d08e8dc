package auth

import (
	"context"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/secret"
	"gatehouse/models"
)

// Known browsers (OWASP's "device cookie"): at login a browser presents a
// long-lived random cookie; only its SHA-256 is stored per user. A login
// from a browser whose cookie the account has not seen records an event
// and mails a notice. An account with no known browser yet (the first
// login after this feature, or after sign-up) learns its first one
// silently: there is nothing to compare with.

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
func noteDevice(tx *gorm.DB, ctx context.Context, u *models.User, token, via string) error {
	now := time.Now().UTC()
	hash := ""
	if DeviceCookieValid(token) {
		hash = secret.HashIn("gatehouse device\x00", token)
		res := tx.Model(&models.KnownDevice{}).Where("user_id = ? AND token_hash = ?", u.ID, hash).Update("last_used_at", now)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
	}
	var known int64
	if err := tx.Model(&models.KnownDevice{}).Where("user_id = ?", u.ID).Count(&known).Error; err != nil {
		return err
	}
	if hash != "" {
		if known >= maxKnownDevices {
			var oldest models.KnownDevice
			if err := tx.Where("user_id = ?", u.ID).Order("last_used_at, id").Take(&oldest).Error; err != nil {
				return err
			}
			if err := tx.Delete(&oldest).Error; err != nil {
				return err
			}
		}
		if err := tx.Create(&models.KnownDevice{UserID: u.ID, TokenHash: hash, CreatedAt: now, LastUsedAt: now}).Error; err != nil {
			return err
		}
	}
	if known == 0 {
		return nil
	}
	detail := ""
	if via != "" {
		detail = models.CodedDetail(models.DetailVia, "via", via)
	}
	if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventNewDevice, u, nil, detail)); err != nil {
		return err
	}
	if u.Email == "" {
		return nil
	}
	ci := models.ClientInfoOf(ctx)
	browser, system := models.DescribeAgent(ci.UserAgent)
	return models.Enqueue(tx, models.KindNewDevice, &u.ID, u.Email, map[string]string{
		"username": u.Username, "when": now.Format(time.RFC3339), "ip": ci.IP, "browser": browser + " on " + system, "agent": browser, "system": system, "via": via,
	})
}
