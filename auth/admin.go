package auth

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Sentinel errors of the staff admin. Each guard is checked inside the same
// immediate (write-locked) transaction as the change, against the rows as
// they are then, so two admins acting at once cannot both pass a check that
// only one of them may pass.
var (
	// ErrNotAllowed: the actor lacks the rights (not active staff; not a
	// superuser for privilege changes or for acting on a superuser).
	ErrNotAllowed = errors.New("you are not allowed to do that")
	// ErrOwnSuperuser: nobody removes their own superuser status.
	ErrOwnSuperuser = errors.New("you cannot remove your own superuser status")
	// ErrDeactivateSelf: nobody deactivates their own account here.
	ErrDeactivateSelf = errors.New("you cannot deactivate your own account")
	// ErrDeleteSelf: nobody deletes their own account here.
	ErrDeleteSelf = errors.New("you cannot delete your own account")
	// ErrOwnEmailHere: staff change (or mark confirmed) their own address
	// on their account pages, with sudo and a confirmation link, never in
	// the admin, where it would be stored as confirmed unasked.
	ErrOwnEmailHere = errors.New("change your own e-mail address on your account page")
	// ErrLastSuperuser: the site keeps at least one active superuser.
	ErrLastSuperuser = errors.New("the site must keep at least one active superuser")
)

// CanManage reports whether actor may change target's account at all: any
// active staff member may manage ordinary accounts and other staff, but
// only a superuser may touch a superuser's account, since changing its
// address or password would be a way to take it over.
func CanManage(actor, target *models.SessionUser) bool {
	if actor == nil || target == nil || !actor.IsActive || !actor.IsStaff {
		return false
	}
	return actor.IsSuperuser || !target.IsSuperuser
}

// UserChanges is an admin edit of an account; nil fields stay as they are.
type UserChanges struct {
	Email       *string
	IsActive    *bool
	IsStaff     *bool
	IsSuperuser *bool
}

// UserUpdate is the outcome of an admin edit: the account before and after,
// and how many of its sessions ended because of it.
type UserUpdate struct {
	Before, After models.User
	SessionsEnded int64
}

// PrivilegesChanged reports whether staff or superuser status changed.
func (uu *UserUpdate) PrivilegesChanged() bool {
	return uu.Before.IsStaff != uu.After.IsStaff || uu.Before.IsSuperuser != uu.After.IsSuperuser
}

// Changes describes what changed, for the security log ("email, is_active=false").
func (uu *UserUpdate) Changes() []string {
	var out []string
	if uu.Before.Email != uu.After.Email {
		out = append(out, "email")
	}
	flag := func(name string, before, after bool) {
		if before != after {
			out = append(out, fmt.Sprintf("%s=%t", name, after))
		}
	}
	flag("is_active", uu.Before.IsActive, uu.After.IsActive)
	flag("is_staff", uu.Before.IsStaff, uu.After.IsStaff)
	flag("is_superuser", uu.Before.IsSuperuser, uu.After.IsSuperuser)
	return out
}

// beforeAdminWrite, when set by a test, runs before an admin edit opens its
// transaction, so the test can line up two admins who both passed every
// check made outside it.
var beforeAdminWrite func()

// inAdminWrite, when set by a test, runs inside an admin edit's transaction
// after its write and before the last-superuser check, so the test can hold
// two edits there at once.
var inAdminWrite func()

// AdminUpdate applies an admin's edit of a user. In one immediate
// transaction it re-reads the actor and the target, checks the rules
// (CanManage; superusers alone change privileges; nobody removes their own
// superuser status or deactivates themselves; an active superuser remains),
// saves the change, and ends the target's sessions when the account is
// deactivated or its privileges change (a session only ever carries the
// privileges it was created with; promoted users sign in afresh).
// A superuser is always staff. Validation failures come back as a
// *ValidationError on "email".
func (a *Accounts) AdminUpdate(ctx context.Context, actorID, targetID uint, ch UserChanges) (*UserUpdate, error) {
	if ch.Email != nil {
		email := validate.NormalizeEmail(*ch.Email)
		if msg := validate.ValidateEmail(email); msg != "" {
			return nil, &models.ValidationError{Fields: map[string][]string{"email": {msg}}}
		}
		ch.Email = &email
	}
	if beforeAdminWrite != nil {
		beforeAdminWrite()
	}
	var res UserUpdate
	err := a.transaction(ctx, "update user", func(tx *gorm.DB) error {
		if err := models.SerializeAdminWrites(tx); err != nil {
			return err
		}
		actor, target, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		after := *target
		// An unchanged address keeps its key: an account whose shared
		// address lost its key (migration 00004) stays editable.
		if ch.Email != nil && *ch.Email != target.Email {
			after.Email, after.EmailKey = *ch.Email, validate.EmailKey(*ch.Email)
		}
		if ch.IsActive != nil {
			after.IsActive = *ch.IsActive
		}
		if ch.IsStaff != nil {
			after.IsStaff = *ch.IsStaff
		}
		if ch.IsSuperuser != nil {
			after.IsSuperuser = *ch.IsSuperuser
		}
		after.IsStaff = after.IsStaff || after.IsSuperuser
		res = UserUpdate{Before: *target, After: after}
		if res.PrivilegesChanged() && !actor.IsSuperuser {
			return ErrNotAllowed
		}
		if actor.ID == target.ID && after.Email != target.Email {
			return ErrOwnEmailHere
		}
		if actor.ID == target.ID {
			if target.IsSuperuser && !after.IsSuperuser {
				return ErrOwnSuperuser
			}
			if !after.IsActive {
				return ErrDeactivateSelf
			}
		}
		err = tx.Model(&models.User{}).Where("id = ?", target.ID).Updates(map[string]any{
			"email": after.Email, "email_key": after.EmailKey, "is_active": after.IsActive,
			"is_staff": after.IsStaff, "is_superuser": after.IsSuperuser,
		}).Error
		if models.IsUniqueViolation(err) {
			return models.ErrDuplicateEmail
		}
		if err != nil {
			return err
		}
		if inAdminWrite != nil {
			inAdminWrite()
		}
		if target.IsActive && target.IsSuperuser && !(after.IsActive && after.IsSuperuser) {
			if err := keepASuperuser(tx); err != nil {
				return err
			}
		}
		if (target.IsActive && !after.IsActive) || res.PrivilegesChanged() {
			if res.SessionsEnded, err = endSessions(tx, target.ID, ""); err != nil {
				return err
			}
		}
		if target.IsActive && !after.IsActive {
			// A deactivated account's apps lose their tokens too.
			if _, err := models.RevokeOIDCUserTokens(tx, target.ID, ""); err != nil {
				return err
			}
		}
		changes := res.Changes()
		if len(changes) == 0 {
			return nil
		}
		// A link mailed before a change of address or status must not
		// work after it.
		if target.EmailKey != after.EmailKey || target.Email != after.Email || target.IsActive != after.IsActive {
			if err := models.VoidTokens(tx, target.ID, time.Now().UTC()); err != nil {
				return err
			}
		}
		if target.Email != after.Email && target.Email != "" {
			if err := models.Enqueue(tx, models.KindEmailChanged, &target.ID, target.Email, map[string]string{
				"username": target.Username, "when": time.Now().UTC().Format(time.RFC3339), "by": "staff",
			}); err != nil {
				return err
			}
		}
		kind := models.EventAdminAction
		switch {
		case res.PrivilegesChanged():
			kind = models.EventPrivilegesChanged
		case target.IsActive && !after.IsActive:
			kind = models.EventUserDeactivated
		}
		detail := models.CodedDetail(models.DetailStaffChanged, "changes", strings.Join(changes, ", "))
		if res.SessionsEnded > 0 {
			detail = models.CodedDetail(models.DetailStaffChangedSessions, "changes", strings.Join(changes, ", "), "count", strconv.FormatInt(int64(res.SessionsEnded), 10))
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(kind, target, &actorID, detail))
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// AdminDelete deletes a user for an admin, in one immediate transaction with
// the checks: CanManage, not oneself, and an active superuser remains. Its
// sessions and reset links go with it (foreign-key cascade); its security
// events stay, for the audit trail.
func (a *Accounts) AdminDelete(ctx context.Context, actorID, targetID uint) (*models.User, error) {
	var deleted models.User
	err := a.transaction(ctx, "delete user", func(tx *gorm.DB) error {
		if err := models.SerializeAdminWrites(tx); err != nil {
			return err
		}
		actor, target, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if actor.ID == target.ID {
			return ErrDeleteSelf
		}
		deleted = *target
		return eraseAccount(tx, ctx, target, &actorID)
	})
	if err != nil {
		return nil, err
	}
	return &deleted, nil
}

// loadActorTarget reads both accounts inside tx and applies CanManage.
func loadActorTarget(tx *gorm.DB, actorID, targetID uint) (*models.User, *models.User, error) {
	actor, err := loadActor(tx, actorID)
	if err != nil {
		return nil, nil, err
	}
	target, err := lockUser(tx, targetID)
	if err != nil {
		return nil, nil, err
	}
	if !CanManage(&actor.SessionUser, &target.SessionUser) {
		return nil, nil, ErrNotAllowed
	}
	return actor, target, nil
}

// loadActor reads the acting staff member inside tx, locked, so a demotion
// committed before cannot be missed and one racing is serialised; anyone
// not active staff is ErrNotAllowed.
func loadActor(tx *gorm.DB, actorID uint) (*models.User, error) {
	actor, err := lockUser(tx, actorID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrNotAllowed
	}
	if err != nil {
		return nil, err
	}
	if !actor.IsActive || !actor.IsStaff {
		return nil, ErrNotAllowed
	}
	return actor, nil
}

// keepASuperuser fails the transaction when no active superuser would be
// left; it is called when a change takes one away (a site that never had
// one, before createsuperuser, is not blocked). The rules above already keep the acting superuser, so this is the
// invariant itself, checked where it cannot be raced.
func keepASuperuser(tx *gorm.DB) error {
	n, err := models.CountActiveSuperusers(tx)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLastSuperuser
	}
	return nil
}
