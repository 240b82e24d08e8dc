package models

import "time"

// KnownDevice is a browser an account has signed in from: only the
// SHA-256 of its long-lived cookie (auth/device.go).
type KnownDevice struct {
	ID         uint      `gorm:"primaryKey"`
	UserID     uint      `gorm:"not null;index:idx_known_devices_user_hash,priority:1"`
	User       *User     `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	TokenHash  string    `gorm:"size:64;not null;index:idx_known_devices_user_hash,priority:2"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
}

func init() { allModels = append(allModels, &KnownDevice{}) }
