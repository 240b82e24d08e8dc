package auth

import (
	"context"
	"gatehouse/models"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// SessionInfo is one signed-in session as its owner sees it: never the row
// ID or the cookie token, only the public ID.
type SessionInfo struct {
	PublicID   string
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	Persistent bool
	// Current marks the session of the request that asked.
	Current bool
	// AuthMethod is how it signed in (models.Session.AuthMethod).
	AuthMethod string
}

// OwnSessions lists the signed-in, unexpired sessions of userID, newest
// first; currentID (the asking request's row) is marked Current.
func (a *Accounts) OwnSessions(ctx context.Context, userID uint, currentID string) ([]SessionInfo, error) {
	var rows []models.Session
	err := a.db.WithContext(ctx).Select("id", "user_agent", "ip", "created_at", "last_seen_at", "persistent", "auth_method").
		Where("user_id = ? AND expires_at > ?", userID, time.Now().UTC()).
		Order("created_at DESC, id").Find(&rows).Error
	if err != nil {
		return nil, models.DBError("list own sessions", err)
	}
	out := make([]SessionInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, SessionInfo{
			PublicID: models.SessionPublicID(r.ID), UserAgent: r.UserAgent, IP: r.IP,
			CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(), Persistent: r.Persistent,
			Current: r.ID == currentID, AuthMethod: r.AuthMethod,
		})
	}
	return out, nil
}

// RevokeOwnSession ends one of u's sessions by its public ID, in one
// transaction with its event. The session making the request (currentID)
// is not ended here (that is logging out). It reports whether a session
// ended; an unknown, foreign or already ended one is not an error. The
// revoked browser is signed out on its very next request, since every
// request reads its session row.
func (a *Accounts) RevokeOwnSession(ctx context.Context, u *models.SessionUser, currentID, publicID string) (bool, error) {
	if publicID == models.SessionPublicID(currentID) {
		return false, nil
	}
	var ok bool
	err := a.transaction(ctx, "revoke own session", func(tx *gorm.DB) error {
		var err error
		if ok, err = revokeByPublicID(tx, u.ID, publicID); err != nil || !ok {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSessionRevoked, u, nil, models.CodedDetail(models.DetailSessionRevokedByOwner)))
	})
	return ok, err
}

// RevokeOtherSessions ends every session of u but currentID ("sign out
// everywhere else"), with its event, in one transaction, and returns how
// many ended.
func (a *Accounts) RevokeOtherSessions(ctx context.Context, u *models.SessionUser, currentID string) (int64, error) {
	var n int64
	err := a.transaction(ctx, "revoke other sessions", func(tx *gorm.DB) error {
		var err error
		if n, err = endSessions(tx, u.ID, currentID); err != nil {
			return err
		}
		// "Sign out everywhere" reaches the apps signed in with
		// Gatehouse: their tokens end (the grants stay, so signing in
		// to them again asks no new consent).
		if _, err := models.RevokeOIDCUserTokens(tx, u.ID, ""); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSessionRevoked, u, nil, models.CodedDetail(models.DetailSignedOutElsewhereOwner, "count", strconv.FormatInt(n, 10))))
	})
	return n, err
}
