package auth

import (
	"context"
	"gatehouse/models"
	"strconv"

	"gorm.io/gorm"
)

// revokeByPublicID deletes userID's session with that public ID inside tx
// and reports whether there was one.
func revokeByPublicID(tx *gorm.DB, userID uint, publicID string) (bool, error) {
	if !models.ValidPublicID(publicID) {
		return false, nil
	}
	var ids []string
	if err := tx.Model(&models.Session{}).Where("user_id = ?", userID).Pluck("id", &ids).Error; err != nil {
		return false, err
	}
	for _, id := range ids {
		if models.SessionPublicID(id) == publicID {
			// That browser's apps hear of it, as at its own sign-out.
			if err := models.QueueOIDCSessionLogout(tx, id); err != nil {
				return false, err
			}
			res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&models.Session{})
			return res.RowsAffected > 0, res.Error
		}
	}
	return false, nil
}

// AdminRevokeSession ends one session of target for a staff member,
// checking the rights in the same transaction; it reports whether there was
// such a session (an unknown or ended one is not an error).
func (a *Accounts) AdminRevokeSession(ctx context.Context, actorID, targetID uint, publicID string) (bool, error) {
	var ok bool
	err := a.transaction(ctx, "revoke session", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if ok, err = revokeByPublicID(tx, t.ID, publicID); err != nil || !ok {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSessionRevoked, t, &actorID, models.CodedDetail(models.DetailSessionRevokedByStaff)))
	})
	return ok, err
}

// AdminRevokeAll signs target out everywhere for a staff member (on one's
// own account: everywhere but except, the acting session), rights checked
// in the same transaction. It returns how many sessions ended.
func (a *Accounts) AdminRevokeAll(ctx context.Context, actorID, targetID uint, except string) (int64, error) {
	var n int64
	err := a.transaction(ctx, "end sessions", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if t.ID != actorID {
			except = ""
		}
		if n, err = endSessions(tx, t.ID, except); err != nil {
			return err
		}
		if _, err := models.RevokeOIDCUserTokens(tx, t.ID, ""); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSessionRevoked, t, &actorID, models.CodedDetail(models.DetailSignedOutEverywhereStaff, "count", strconv.FormatInt(n, 10))))
	})
	return n, err
}
