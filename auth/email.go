package auth

import (
	"context"
	"errors"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// E-mail verification modes (EMAIL_VERIFICATION, django-allauth's names).
const (
	// VerifyOptional mails a confirmation link at sign-up and reminds the
	// user until the address is confirmed.
	VerifyOptional = "optional"
	// VerifyMandatory lets nobody with an unconfirmed address sign in.
	VerifyMandatory = "mandatory"
	// VerifyNone sends no confirmation and shows no state.
	VerifyNone = "none"
)

// verification returns the policy's mode, optional when unset.
func (p Policy) verification() string {
	if p.EmailVerification == "" {
		return VerifyOptional
	}
	return p.EmailVerification
}

// Throttle scope: confirmation mails per account.
const ScopeEmailMailUser = "email-mail:user"

// DefaultEmailLinkTimeout is how long e-mail confirmation links work.
const DefaultEmailLinkTimeout = 24 * time.Hour

// Errors of the e-mail flows.
var (
	// ErrEmailTaken: at confirmation, another account has the address
	// (the unique e-mail rule).
	ErrEmailTaken = errors.New("another account uses this e-mail address")
	// ErrEmailUnverified: EMAIL_VERIFICATION=mandatory and the address is
	// not confirmed yet.
	ErrEmailUnverified = errors.New("the e-mail address is not confirmed yet")
)

// MsgSameEmail is the message for asking to change to the current address.
const MsgSameEmail = "This is already your e-mail address."

// emailMailRule limits confirmation mails (change and verification) per
// account: the reset quota's numbers, its own counter.
func (a *Accounts) emailMailRule(userID uint) models.Rule {
	return models.NewRule(ScopeEmailMailUser, a.policy.ResetPerEmail, strconv.FormatUint(uint64(userID), 10))
}

// EmailChangeInput asks to change a signed-in user's address.
type EmailChangeInput struct {
	User  *models.SessionUser
	Email string
}

// RequestEmailChange validates the new address and, in one transaction,
// queues the confirmation link to the NEW address (its token is issued
// when it is sent), tells the CURRENT address at once, and records the
// event. Nothing changes until the link is confirmed (ConfirmEmail). An
// address another account has is answered the same (no enumeration); it
// is refused when confirmed. Mails are limited per account (a
// *ThrottledError over the limit).
func (a *Accounts) RequestEmailChange(ctx context.Context, in EmailChangeInput) error {
	// The key of the address the account has now: from its row (the
	// session's user does not carry the keys).
	row, err := a.rowOf(ctx, in.User, ErrNotAllowed)
	if err != nil {
		return err
	}
	email := validate.NormalizeEmail(in.Email)
	verr := models.NewValidationError()
	switch {
	case email == "":
		verr.Add("email", MsgRequired)
	case validate.ValidateEmail(email) != "":
		verr.Add("email", validate.ValidateEmail(email))
	case validate.EmailKey(email) == row.EmailKey:
		verr.Add("email", MsgSameEmail)
	}
	if err := verr.OrNil(); err != nil {
		return err
	}
	if _, err := a.take(ctx, models.EventEmailMailThrottled, in.User, a.emailMailRule(in.User.ID)); err != nil {
		return err
	}
	return a.transaction(ctx, "request e-mail change", func(tx *gorm.DB) error {
		u, err := lockUser(tx, in.User.ID)
		if err != nil {
			return err
		}
		if !u.IsActive {
			return ErrNotAllowed
		}
		now := time.Now().UTC()
		if err := models.Enqueue(tx, models.KindEmailChangeConfirm, &u.ID, email, map[string]string{
			"username": u.Username, "old": u.Email, "ttl_seconds": strconv.Itoa(int(DefaultEmailLinkTimeout / time.Second)),
		}); err != nil {
			return err
		}
		if u.Email != "" {
			if err := models.Enqueue(tx, models.KindEmailChangeRequested, &u.ID, u.Email, map[string]string{
				"username": u.Username, "new": email, "when": now.Format(time.RFC3339),
			}); err != nil {
				return err
			}
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventEmailChangeRequested, u, nil, ""))
	})
}

// EmailToken is a usable e-mail confirmation link as its page shows it.
type EmailToken struct {
	Purpose string // PurposeEmailChange or PurposeEmailVerify
	Address string
}

// CheckEmailToken returns what a confirmation link would confirm, without
// using it (the GET of the confirm page). Anything unusable is
// ErrInvalidToken.
func (a *Accounts) CheckEmailToken(ctx context.Context, hash string) (*EmailToken, error) {
	tokens := models.NewTokens(a.db)
	for _, p := range []string{models.PurposeEmailChange, models.PurposeEmailVerify} {
		tok, err := tokens.Check(ctx, p, hash)
		if errors.Is(err, models.ErrInvalidToken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &EmailToken{Purpose: p, Address: tok.Payload}, nil
	}
	return nil, models.ErrInvalidToken
}

// EmailConfirmed is the outcome of ConfirmEmail.
type EmailConfirmed struct {
	Purpose string
	User    *models.User
	// SessionsEnded counts the other sessions a change ended.
	SessionsEnded int64
}

// ConfirmEmail uses a confirmation link (the POST of the confirm page), in
// one transaction: the token is used up (of parallel uses one wins), the
// user re-read (active, and for verification still at the address
// mailed). A change sets the new address (verified), voids every other
// link of the user (reset links included), ends every session of the user
// but sessionID, tells the old address and records the event; another
// account with the address is ErrEmailTaken (the unique e-mail rule; the
// whole transaction is undone). A verification marks the address verified.
func (a *Accounts) ConfirmEmail(ctx context.Context, hash, sessionID string) (*EmailConfirmed, error) {
	et, err := a.CheckEmailToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	var out EmailConfirmed
	err = a.transaction(ctx, "confirm e-mail", func(tx *gorm.DB) error {
		now := time.Now().UTC()
		tok, err := models.ConsumeToken(tx, et.Purpose, hash, now)
		if err != nil {
			return err
		}
		u, err := lockUser(tx, tok.UserID)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !u.IsActive) {
			return models.ErrInvalidToken
		}
		if err != nil {
			return err
		}
		out = EmailConfirmed{Purpose: et.Purpose, User: u}
		if et.Purpose == models.PurposeEmailVerify {
			if u.Email != tok.Payload {
				return models.ErrInvalidToken // the address changed since
			}
			if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", true).Error; err != nil {
				return err
			}
			u.EmailVerified = true
			return models.RecordEvent(tx, ctx, models.UserEvent(models.EventEmailVerified, u, nil, ""))
		}
		newEmail := tok.Payload
		if msg := validate.ValidateEmail(newEmail); msg != "" {
			return models.ErrInvalidToken
		}
		var taken int64
		if err := tx.Model(&models.User{}).Where("email_key = ? AND id <> ?", validate.EmailKey(newEmail), u.ID).Count(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return ErrEmailTaken
		}
		old := u.Email
		err = tx.Model(&models.User{}).Where("id = ?", u.ID).Updates(map[string]any{
			"email": newEmail, "email_key": validate.EmailKey(newEmail), "email_verified": true,
		}).Error
		if models.IsUniqueViolation(err) {
			return ErrEmailTaken // the unique e-mail rule, in a race
		}
		if err != nil {
			return err
		}
		if err := models.VoidTokens(tx, u.ID, now); err != nil {
			return err
		}
		if out.SessionsEnded, err = endSessions(tx, u.ID, sessionID); err != nil {
			return err
		}
		u.Email, u.EmailKey, u.EmailVerified = newEmail, validate.EmailKey(newEmail), true
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventEmailChanged, u, nil, models.CodedDetail(models.DetailEmailChangedByOwner, "count", strconv.FormatInt(out.SessionsEnded, 10)))); err != nil {
			return err
		}
		if old == "" {
			return nil
		}
		return models.Enqueue(tx, models.KindEmailChanged, &u.ID, old, map[string]string{
			"username": u.Username, "when": now.Format(time.RFC3339), "by": "you",
		})
	})
	if errors.Is(err, ErrEmailTaken) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// queueVerification queues the verification link for u's address inside
// tx (its token is issued when it is sent); next, when not "", goes in the
// link (where a person who came from a protected app goes on to).
func queueVerification(tx *gorm.DB, u *models.User, next string) error {
	d := map[string]string{
		"username": u.Username, "payload": u.Email, "ttl_seconds": strconv.Itoa(int(DefaultEmailLinkTimeout / time.Second)),
	}
	if next != "" {
		d["next"] = next
	}
	return models.Enqueue(tx, models.KindEmailVerify, &u.ID, u.Email, d)
}

// ResendVerification mails a new verification link to a signed-in user
// whose address is not verified, limited per account (a *ThrottledError
// over the limit); next, when not "", goes in the link. An address already
// verified sends nothing.
func (a *Accounts) ResendVerification(ctx context.Context, u *models.SessionUser, next string) error {
	if u.EmailVerified || u.Email == "" {
		return nil
	}
	if _, err := a.take(ctx, models.EventEmailMailThrottled, u, a.emailMailRule(u.ID)); err != nil {
		return err
	}
	return a.transaction(ctx, "resend verification", func(tx *gorm.DB) error {
		cur, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if cur.EmailVerified || !cur.IsActive {
			return nil
		}
		return queueVerification(tx, cur, next)
	})
}

// signupVerification queues the verification link of a new account inside
// the sign-up transaction (unless EMAIL_VERIFICATION=none) and reports
// whether the account must confirm before signing in (mandatory).
func (a *Accounts) signupVerification(tx *gorm.DB, ctx context.Context, u *models.User, next string) (mandatory bool, err error) {
	mode := a.policy.verification()
	if mode == VerifyNone || u.Email == "" {
		return false, nil
	}
	if err := queueVerification(tx, u, next); err != nil {
		return false, err
	}
	if mode != VerifyMandatory {
		return false, nil
	}
	return true, models.RecordEvent(tx, ctx, models.UserEvent(models.EventSignup, u, nil, models.CodedDetail(models.DetailSignupUnconfirmed)))
}

// unverifiedLogin answers a correct password for an account whose address
// is not confirmed under EMAIL_VERIFICATION=mandatory: no session; a new
// link is mailed, at most as often as the per-account mail limit allows
// (over it, silently none: the password was right, so this is the owner
// asking again). It always returns ErrEmailUnverified unless the database
// fails.
func (a *Accounts) unverifiedLogin(ctx context.Context, u *models.User) error {
	_, err := a.take(ctx, models.EventEmailMailThrottled, &u.SessionUser, a.emailMailRule(u.ID))
	if errors.As(err, new(*ThrottledError)) {
		return ErrEmailUnverified
	}
	if err != nil {
		return err
	}
	err = a.transaction(ctx, "login before confirming", func(tx *gorm.DB) error {
		cur, err := lockUser(tx, u.ID)
		if err != nil || !cur.IsActive || cur.EmailVerified {
			return err
		}
		if err := queueVerification(tx, cur, ""); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventLoginFailed, cur, nil, models.CodedDetail(models.DetailLoginUnconfirmed)))
	})
	if err != nil {
		return err
	}
	return ErrEmailUnverified
}

// AdminSetEmailVerified sets whether target's address counts as verified,
// for a staff member who may manage target (checked in the same
// transaction), with its event.
func (a *Accounts) AdminSetEmailVerified(ctx context.Context, actorID, targetID uint, verified bool) error {
	return a.transaction(ctx, "set e-mail verified", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if actorID == targetID {
			return ErrOwnEmailHere
		}
		if t.EmailVerified == verified {
			return nil
		}
		if err := tx.Model(&models.User{}).Where("id = ?", t.ID).Update("email_verified", verified).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventAdminAction, t, &actorID, emailVerifiedDetail(verified)))
	})
}

// PendingEmailChange is the user's address change still waiting for its
// link (nil when none), for the e-mail page.
func (a *Accounts) PendingEmailChange(ctx context.Context, userID uint) (*models.PendingEmailChange, error) {
	return models.FindPendingEmailChange(ctx, a.db, userID)
}

// emailVerifiedDetail is the detail of staff marking an address confirmed
// or not.
func emailVerifiedDetail(verified bool) string {
	if verified {
		return models.CodedDetail(models.DetailEmailVerifiedSetByStaff)
	}
	return models.CodedDetail(models.DetailEmailUnverifiedSetByStaff)
}
