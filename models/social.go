package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// SocialIdentity is an identity at another provider connected to an
// account (django-allauth's SocialAccount): the provider's id and its
// stable subject, unique together, so one person at a provider is one
// account here.
type SocialIdentity struct {
	ID     uint  `gorm:"primaryKey"`
	UserID uint  `gorm:"not null;index"`
	User   *User `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	// Provider is the providers file's id ("corp", "github").
	Provider string `gorm:"size:32;not null;uniqueIndex:idx_social_identities_provider_subject,priority:1"`
	Subject  string `gorm:"size:255;not null;uniqueIndex:idx_social_identities_provider_subject,priority:2"`
	// Email is the address the provider gave when it was connected.
	Email      string    `gorm:"size:254;not null;default:''"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
}

// SocialFlow is one sign-in through a provider in progress, from the
// button to the callback (stage "auth") and, for a new person, on to the
// short sign-up form (stage "signup"). Its key is the hash of the state
// sent to the provider; Binding the hash of the cookie that ties it to the
// browser that started it. The nonce and the PKCE verifier are derived
// from state and that cookie, so no secret of the flow is stored here.
type SocialFlow struct {
	ID       string `gorm:"primaryKey;size:64"`
	Binding  string `gorm:"size:64;not null;index"`
	Provider string `gorm:"size:32;not null"`
	// Purpose is "login" or "connect" (to UserID's account).
	Purpose string `gorm:"size:16;not null"`
	UserID  *uint  `gorm:"index"`
	User    *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	Next    string `gorm:"size:1024;not null;default:''"`
	Stage   string `gorm:"size:16;not null"`
	// The claims, once the provider answered (stage "signup").
	Subject       string    `gorm:"size:255;not null;default:''"`
	Email         string    `gorm:"size:254;not null;default:''"`
	EmailVerified bool      `gorm:"not null;default:false"`
	Username      string    `gorm:"size:150;not null;default:''"`
	CreatedAt     time.Time `gorm:"not null"`
	ExpiresAt     time.Time `gorm:"not null;index"`
}

// Stages of a SocialFlow.
const (
	FlowStageAuth   = "auth"
	FlowStageSignup = "signup"
)

func init() { allModels = append(allModels, &SocialIdentity{}, &SocialFlow{}) }

// ListSocialIdentities lists userID's connected identities, oldest first.
func ListSocialIdentities(ctx context.Context, db *gorm.DB, userID uint) ([]SocialIdentity, error) {
	var out []SocialIdentity
	err := db.WithContext(ctx).Where("user_id = ?", userID).Order("id").Find(&out).Error
	if err != nil {
		return nil, dbErr("list identities", err)
	}
	return out, nil
}

// DeleteExpiredSocialFlows removes flows past their expiry (the sweep).
func DeleteExpiredSocialFlows(ctx context.Context, db *gorm.DB, now time.Time) (int64, error) {
	res := db.WithContext(ctx).Where("expires_at <= ?", now).Delete(&SocialFlow{})
	return res.RowsAffected, res.Error
}

// Events of sign-ins through other providers.
const (
	// EventSocialConnected: an identity at a provider was connected to
	// the account (detail: the provider).
	EventSocialConnected EventKind = "social_connected"
	// EventSocialDisconnected: one was disconnected.
	EventSocialDisconnected EventKind = "social_disconnected"
	// EventSocialRefused: a provider's identity matched this account's
	// address but was not connected (the account must sign in first).
	EventSocialRefused EventKind = "social_refused"
)
