package auth

import (
	"context"
	"errors"
	"gatehouse/models"
	"time"

	"gorm.io/gorm"
)

// SignupInput is a sign-up through the public form.
type SignupInput struct {
	Username, Email, Password string
	IP                        string
	// SessionID is the browser's current session row ("" when none); it is
	// replaced by the new signed-in one.
	SessionID string
	// Next is where the account goes once signed in (checked by the
	// handler); with mandatory verification it rides in the mailed link.
	Next string
}

// TakeUsernameCheck counts one username look-up (the live check, or a
// sign-up POST, which looks the name up too) against the client address's
// limit, so taken names cannot be enumerated at scale. Over it: a
// *ThrottledError.
func (a *Accounts) TakeUsernameCheck(ctx context.Context, ip string) error {
	_, err := a.take(ctx, models.EventSignupThrottled, nil, models.NewRule(ScopeSignupCheck, a.policy.SignupCheckPerIP, models.ThrottleIP(ip)))
	return err
}

// SignupWait reports how long until the client address may sign up again
// (0: now). It only reads, so a form over the limit can say so before any
// look-up; Signup takes the attempt itself.
func (a *Accounts) SignupWait(ctx context.Context, ip string) (time.Duration, error) {
	r := models.NewRule(ScopeSignupIP, a.policy.SignupPerIP, models.ThrottleIP(ip))
	if !r.Limit.Enabled() {
		return 0, nil
	}
	return a.throttles.Wait(ctx, r)
}

// Signup creates an account and signs the new user straight in (a fresh
// session, as at login). The attempt is taken against the per-address
// sign-up limit before the password is hashed, so a parallel burst cannot
// all get in (attempts, not successes, are counted: that bounds the hashing
// an address can cost as well as the accounts it can make). In one
// transaction: the user (a name taken in a race comes back from the unique
// index as ErrDuplicateUsername), the session, the event.
func (a *Accounts) Signup(ctx context.Context, in SignupInput) (*LoginResult, error) {
	if _, err := a.take(ctx, models.EventSignupThrottled, nil, models.NewRule(ScopeSignupIP, a.policy.SignupPerIP, models.ThrottleIP(in.IP))); err != nil {
		return nil, err
	}
	user, err := models.PrepareUser(ctx, a.hasher, models.NewUser{Username: in.Username, Email: in.Email, Password: in.Password})
	if err != nil {
		return nil, err
	}
	user.EmailVerified = a.policy.verification() == VerifyNone
	var out LoginResult
	err = a.transaction(ctx, "sign up", func(tx *gorm.DB) error {
		if err := tx.Create(user).Error; err != nil {
			return err
		}
		if mandatory, err := a.signupVerification(tx, ctx, user, in.Next); err != nil || mandatory {
			out = LoginResult{User: user} // not signed in before confirming (email.go)
			return err
		}
		// Signing up signs in: last_login says so (Django's login() sets
		// it too), so the profile never says "never" to someone signed in.
		now := time.Now().UTC()
		if err := tx.Model(&models.User{}).Where("id = ?", user.ID).Update("last_login", now).Error; err != nil {
			return err
		}
		user.LastLogin = &now
		ns, err := models.SignIn(tx, ctx, in.SessionID, user, models.AuthSignup, false, a.policy.lifetimes())
		if err != nil {
			return err
		}
		out = LoginResult{User: user, Session: ns}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSignup, user, nil, ""))
	})
	if err != nil {
		return nil, a.duplicate(ctx, user.Username, err)
	}
	return &out, nil
}

// duplicate refines a taken address: when the username is taken too, that
// is the error the form shows first (as the unique index on usernames would
// have said, had it been checked first).
func (a *Accounts) duplicate(ctx context.Context, username string, err error) error {
	if errors.Is(err, models.ErrDuplicateEmail) {
		if taken, terr := a.users.UsernameTaken(ctx, username); terr == nil && taken {
			return models.ErrDuplicateUsername
		}
	}
	return err
}

// AdminCreate creates an account for a staff member. Staff and superuser
// flags are for superusers to give; the actor's rights are checked in the
// transaction that inserts the user and records the event.
func (a *Accounts) AdminCreate(ctx context.Context, actorID uint, nu models.NewUser) (*models.User, error) {
	user, err := models.PrepareUser(ctx, a.hasher, nu)
	if err != nil {
		return nil, err
	}
	err = a.transaction(ctx, "create user", func(tx *gorm.DB) error {
		actor, err := loadActor(tx, actorID)
		if err != nil {
			return err
		}
		if (user.IsStaff || user.IsSuperuser) && !actor.IsSuperuser {
			return ErrNotAllowed
		}
		if err := tx.Create(user).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventUserCreated, user, &actorID,
			models.CodedDetail(models.DetailCreatedByStaff, "roles", roles(user))))
	})
	if err != nil {
		return nil, a.duplicate(ctx, user.Username, err)
	}
	return user, nil
}

// CreateByCommand is createsuperuser (and friends): it creates the account
// and records who made it (the command) in one transaction.
func (a *Accounts) CreateByCommand(ctx context.Context, nu models.NewUser, command string) (*models.User, error) {
	user, err := models.PrepareUser(ctx, a.hasher, nu)
	if err != nil {
		return nil, err
	}
	err = a.transaction(ctx, "create user", func(tx *gorm.DB) error {
		if err := tx.Create(user).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventUserCreated, user, nil,
			models.CodedDetail(models.DetailCreatedByCommand, "command", command, "roles", roles(user))))
	})
	if err != nil {
		return nil, a.duplicate(ctx, user.Username, err)
	}
	return user, nil
}
