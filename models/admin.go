package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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
	// ErrLastSuperuser: the site keeps at least one active superuser.
	ErrLastSuperuser = errors.New("the site must keep at least one active superuser")
)

// CanManage reports whether actor may change target's account at all: any
// active staff member may manage ordinary accounts and other staff, but
// only a superuser may touch a superuser's account, since changing its
// address or password would be a way to take it over.
func CanManage(actor, target *User) bool {
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
	Before, After User
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
func (u *Users) AdminUpdate(ctx context.Context, actorID, targetID uint, ch UserChanges) (*UserUpdate, error) {
	if ch.Email != nil {
		email := NormalizeEmail(*ch.Email)
		if msg := ValidateEmail(email); msg != "" {
			return nil, &ValidationError{Fields: map[string][]string{"email": {msg}}}
		}
		ch.Email = &email
	}
	if beforeAdminWrite != nil {
		beforeAdminWrite()
	}
	var res UserUpdate
	err := u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := serializeAdminWrites(tx); err != nil {
			return err
		}
		actor, target, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		after := *target
		// An unchanged address keeps its key: an account whose shared
		// address lost its key (migration 00003) stays editable.
		if ch.Email != nil && *ch.Email != target.Email {
			after.Email, after.EmailKey = *ch.Email, EmailKey(*ch.Email)
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
		if actor.ID == target.ID {
			if target.IsSuperuser && !after.IsSuperuser {
				return ErrOwnSuperuser
			}
			if !after.IsActive {
				return ErrDeactivateSelf
			}
		}
		err = tx.Model(&User{}).Where("id = ?", target.ID).Updates(map[string]any{
			"email": after.Email, "email_key": after.EmailKey, "is_active": after.IsActive,
			"is_staff": after.IsStaff, "is_superuser": after.IsSuperuser,
		}).Error
		if isUniqueViolation(err) {
			return ErrDuplicateEmail
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
			r := tx.Where("user_id = ?", target.ID).Delete(&Session{})
			if r.Error != nil {
				return r.Error
			}
			res.SessionsEnded = r.RowsAffected
		}
		return nil
	})
	if err != nil {
		return nil, adminErr("update user", err)
	}
	return &res, nil
}

// AdminDelete deletes a user for an admin, in one immediate transaction with
// the checks: CanManage, not oneself, and an active superuser remains. Its
// sessions and reset links go with it (foreign-key cascade); its security
// events stay, for the audit trail.
func (u *Users) AdminDelete(ctx context.Context, actorID, targetID uint) (*User, error) {
	var deleted User
	err := u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := serializeAdminWrites(tx); err != nil {
			return err
		}
		actor, target, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if actor.ID == target.ID {
			return ErrDeleteSelf
		}
		if err := tx.Delete(&User{}, target.ID).Error; err != nil {
			return err
		}
		deleted = *target
		if target.IsActive && target.IsSuperuser {
			return keepASuperuser(tx)
		}
		return nil
	})
	if err != nil {
		return nil, adminErr("delete user", err)
	}
	return &deleted, nil
}

// CheckManage re-reads actor and target and reports ErrNotAllowed unless
// the actor may manage the target (ErrNotFound when the target is gone).
// Actions that are not an UPDATE of the user row (sessions, passwords, mail)
// call it first.
func (u *Users) CheckManage(ctx context.Context, actorID, targetID uint) (*User, error) {
	var target *User
	err := u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		_, target, err = loadActorTarget(tx, actorID, targetID)
		return err
	})
	if err != nil {
		return nil, adminErr("check rights", err)
	}
	return target, nil
}

// loadActorTarget reads both accounts inside tx and applies CanManage.
func loadActorTarget(tx *gorm.DB, actorID, targetID uint) (*User, *User, error) {
	var actor, target User
	if err := tx.Take(&actor, actorID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, ErrNotAllowed
		}
		return nil, nil, err
	}
	if err := tx.Take(&target, targetID).Error; err != nil {
		return nil, nil, err
	}
	if !CanManage(&actor, &target) {
		return nil, nil, ErrNotAllowed
	}
	return &actor, &target, nil
}

// keepASuperuser fails the transaction when no active superuser would be
// left; it is called when a change takes one away (a site that never had
// one, before createsuperuser, is not blocked). The rules above already keep the acting superuser, so this is the
// invariant itself, checked where it cannot be raced.
func keepASuperuser(tx *gorm.DB) error {
	n, err := countActiveSuperusers(tx)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLastSuperuser
	}
	return nil
}

// adminErr passes the admin sentinels through and maps the rest.
func adminErr(op string, err error) error {
	for _, s := range []error{ErrNotAllowed, ErrOwnSuperuser, ErrDeactivateSelf, ErrDeleteSelf, ErrLastSuperuser, ErrDuplicateEmail} {
		if errors.Is(err, s) {
			return s
		}
	}
	return dbErr(op, err)
}

// SessionPublicID is the identifier of a session shown on admin pages and
// posted back to revoke it: a digest of the row ID, so a page (or its
// cache, or a screenshot) never holds the stored ID, let alone the cookie
// token.
func SessionPublicID(rowID string) string {
	sum := sha256.Sum256([]byte("gatehouse session public id\x00" + rowID))
	return hex.EncodeToString(sum[:12])
}

// Revoke ends the session of userID whose public ID is publicID and
// reports whether there was one.
func (s *Sessions) Revoke(ctx context.Context, userID uint, publicID string) (bool, error) {
	if len(publicID) != 24 || strings.Trim(publicID, "0123456789abcdef") != "" {
		return false, nil
	}
	var ids []string
	if err := s.db.WithContext(ctx).Model(&Session{}).Where("user_id = ?", userID).Pluck("id", &ids).Error; err != nil {
		return false, dbErr("list sessions", err)
	}
	for _, id := range ids {
		if SessionPublicID(id) == publicID {
			res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
			return res.RowsAffected > 0, dbErr("revoke session", res.Error)
		}
	}
	return false, nil
}
