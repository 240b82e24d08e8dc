package auth

import (
	"context"
	"fmt"
	"gatehouse/models"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Deleting one's own account.

// Tombstone is the name a deleted account's security events keep: a
// pseudonym with the old ID, so the log still reads as one account's
// history without naming the person.
func Tombstone(userID uint) string { return "deleted user #" + strconv.FormatUint(uint64(userID), 10) }

// DeleteAccountInput is a signed-in user deleting their own account.
type DeleteAccountInput struct {
	User     *models.SessionUser
	IP       string
	Password string
}

// DeleteOwnAccount deletes the signed-in user's account after checking
// their password (throttled and recorded like a login). In one
// transaction: the user is re-read (same password hash); the goodbye mail
// is queued (before the row goes); every session and one-time token of the
// user goes (the foreign keys cascade; deleted explicitly too); the user's
// security events keep their user ID as a number but their name is
// replaced by a Tombstone; the deletion is recorded under the tombstone;
// the row is deleted. The last active superuser cannot delete themselves
// (ErrLastSuperuser).
func (a *Accounts) DeleteOwnAccount(ctx context.Context, in DeleteAccountInput) error {
	u := in.User
	if in.Password == "" {
		verr := models.NewValidationError()
		verr.Add("password", MsgRequired)
		return verr
	}
	hash, _, err := a.checkOwnPassword(ctx, u, in.IP, in.Password, models.EventAccountDeleteFailed, models.EventReauthThrottled, models.CodedDetail(models.DetailWrongPasswordDelete))
	if err != nil {
		return err
	}
	return a.transaction(ctx, "delete own account", func(tx *gorm.DB) error {
		if err := models.SerializeAdminWrites(tx); err != nil {
			return err
		}
		cur, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if cur.Password != hash || !cur.IsActive {
			return ErrWrongPassword // changed or deactivated meanwhile
		}
		if err := eraseAccount(tx, ctx, cur, nil); err != nil {
			return err
		}
		if cur.Email == "" {
			return nil
		}
		// The goodbye is queued after the erasure (which scrubs every
		// earlier message about the account) and forgets its address once
		// sent (Outbox.MarkSent).
		return models.Enqueue(tx, models.KindAccountDeleted, &cur.ID, cur.Email, map[string]string{
			"username": cur.Username, "when": time.Now().UTC().Format(time.RFC3339),
		})
	})
}

// eraseAccount is the one deletion path, the owner's and staff's, inside
// the deleting transaction: every session and one-time token of u goes;
// every outbox message about u goes, queued, sent or failed (they hold the
// address and username); u's security events keep the user ID as a number
// but their name becomes a Tombstone; the row is deleted; a superuser's
// departure must leave an active superuser; user_deleted is recorded under
// the tombstone (with the staff member, when one did it).
func eraseAccount(tx *gorm.DB, ctx context.Context, u *models.User, actorID *uint) error {
	if _, err := endSessions(tx, u.ID, ""); err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&models.OneTimeToken{}).Error; err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&models.OutboxMessage{}).Error; err != nil {
		return err
	}
	// The apps that asked to hear of it are told (queued while the
	// grants still say which), then their tokens and grants go (the
	// foreign keys would cascade; saying it keeps the list of what an
	// account leaves behind in one place).
	if err := models.QueueOIDCBackchannelLogout(tx, u.ID, ""); err != nil {
		return err
	}
	for _, m := range []any{&models.OIDCToken{}, &models.OIDCGrant{}, &models.OIDCAuthRequest{}} {
		if err := tx.Where("user_id = ?", u.ID).Delete(m).Error; err != nil {
			return err
		}
	}
	name := Tombstone(u.ID)
	if err := tx.Model(&models.AuthEvent{}).Where("user_id = ?", u.ID).Update("username", name).Error; err != nil {
		return err
	}
	if err := tx.Delete(&models.User{}, u.ID).Error; err != nil {
		return err
	}
	if u.IsActive && u.IsSuperuser {
		if err := keepASuperuser(tx); err != nil {
			return err
		}
	}
	code := models.DetailDeletedByOwner
	if actorID != nil {
		code = models.DetailDeletedByStaff
	}
	return models.RecordEvent(tx, ctx, models.AuthEvent{Kind: models.EventUserDeleted, UserID: &u.ID, Username: name, ActorID: actorID,
		Detail: models.CodedDetail(code, "roles", roles(u))})
}

// roles is an account's rights as the admin form names them, for an
// event's detail: "is_staff=true, is_superuser=false".
func roles(u *models.User) string {
	return fmt.Sprintf("is_staff=%t, is_superuser=%t", u.IsStaff, u.IsSuperuser)
}
