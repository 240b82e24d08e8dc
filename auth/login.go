package auth

import (
	"context"
	"errors"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"time"

	"gorm.io/gorm"
)

// LoginInput is a login attempt.
type LoginInput struct {
	Username, Password string
	// IP is the client's address (trusted proxies applied), for the limits.
	IP string
	// SessionID is the browser's current session row ("" when none); it is
	// replaced by the new signed-in one.
	SessionID string
	// Remember keeps the session beyond the browser's life.
	Remember bool
	// Device is the browser's device cookie ("" when none): a browser
	// the account has not used before is notified (device.go).
	Device string
}

// LoginResult is a successful login: the user and the session to adopt.
type LoginResult struct {
	User    *models.User
	Session models.NewSession
	// Pending means the password was right but a second factor is due:
	// Session is pending, not signed in (auth/mfa_login.go).
	Pending bool
	// Next is where an upstream sign-up goes on to: its flow's next.
	Next string
}

// Login checks a username and password as Django's ModelBackend does and
// signs the user in.
//
//  1. The attempt is taken against the login limits first, in its own
//     write (Take), so a parallel burst cannot all reach the hash: over a
//     limit it is a *ThrottledError and no password is checked.
//  2. The password is verified outside any transaction. Unknown users,
//     wrong passwords and inactive users all give ErrInvalidCredentials,
//     and all cost one hash verification so timing does not tell them apart.
//     A failure is recorded (linked to the account when the name exists;
//     a name no account has is not stored).
//  3. On success, in one transaction: the user is re-read (still active,
//     same hash), the hash is upgraded if it is not the preferred one,
//     last_login set, the (username, address) counter cleared and the
//     address's attempt given back, the browser's session replaced by a new
//     signed-in one (rotation), and the event recorded.
//
// ErrBusy means no hashing slot was free in time.
func (a *Accounts) Login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	userIP, perIP := a.loginRules(in.Username, in.IP)
	// The block an attempt starts is recorded with its outcome below,
	// linked to the account when the attempt fails.
	taken, err := a.take(ctx, "", nil, userIP, perIP)
	if err != nil {
		return nil, err
	}
	user, rehash, err := a.verify(ctx, in.Username, in.Password)
	if errors.Is(err, models.ErrInvalidCredentials) {
		e := models.AuthEvent{Kind: models.EventLoginFailed}
		if user != nil {
			e.UserID, e.Username = &user.ID, user.Username
		} else {
			e.Detail = "no account has this username"
		}
		return nil, a.recordFailure(ctx, failedAttempt{op: "record failed login", event: e,
			block: models.EventLoginThrottled, user: sessionPart(user), taken: taken}, models.ErrInvalidCredentials)
	}
	if errors.Is(err, models.ErrAccountInactive) {
		// The right password for a deactivated account: recorded as a
		// failure (no session), answered with the inactive page.
		e := models.UserEvent(models.EventLoginFailed, user, nil, "account inactive")
		return nil, a.recordFailure(ctx, failedAttempt{op: "record inactive login", event: e,
			block: models.EventLoginThrottled, user: sessionPart(user), taken: taken}, models.ErrAccountInactive)
	}
	if err != nil {
		return nil, err
	}
	if a.policy.verification() == VerifyMandatory && !user.EmailVerified {
		return nil, a.unverifiedLogin(ctx, user) // email.go
	}
	newHash := ""
	if rehash {
		if h, err := a.hasher.Hash(ctx, in.Password); err == nil {
			newHash = h
		}
	}
	if has, err := a.HasSecondFactor(ctx, user.ID); err != nil {
		return nil, err
	} else if has {
		return a.beginSecondFactor(ctx, in, user, newHash, userIP, taken)
	}
	var out LoginResult
	err = a.transaction(ctx, "login", func(tx *gorm.DB) error {
		u, err := lockUser(tx, user.ID)
		if errors.Is(err, models.ErrNotFound) {
			return models.ErrInvalidCredentials
		}
		if err != nil {
			return err
		}
		if !u.IsActive || u.Password != user.Password {
			return models.ErrInvalidCredentials // deactivated or changed meanwhile
		}
		if newHash != "" {
			if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("password", newHash).Error; err != nil {
				return err
			}
			u.Password = newHash
		}
		// Only the (username, address) counter is cleared: clearing the
		// address's would let an attacker reset it by logging in to an
		// account of their own between guesses; their successful attempt
		// is just not counted.
		if err := models.ResetRule(tx, userIP); err != nil {
			return err
		}
		if err := models.GiveBack(tx, taken, ScopeLoginIP); err != nil {
			return err
		}
		ns, err := a.finishSignIn(tx, ctx, signInStep{sessionID: in.SessionID, user: u, method: models.AuthPassword,
			remember: in.Remember, device: in.Device})
		if err != nil {
			return err
		}
		out = LoginResult{User: u, Session: ns}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// mayEnter is the account check of every way in (password, second step,
// passkey), made inside the sign-in's transaction on the locked row: the
// account is active and, under EMAIL_VERIFICATION=mandatory, its address
// is confirmed. (A deleted account has no row to lock.)
func (a *Accounts) mayEnter(u *models.User) error {
	if !u.IsActive {
		return models.ErrAccountInactive
	}
	if a.policy.verification() == VerifyMandatory && !u.EmailVerified {
		return ErrEmailUnverified
	}
	return nil
}

// signInStep is a completed sign-in to write: the browser's session, the
// account (locked in the transaction), how it signed in, and the browser's
// device cookie.
type signInStep struct {
	sessionID string
	user      *models.User
	method    string
	remember  bool
	device    string
	detail    string // for the event, e.g. "passkey: Laptop"
	// via names the other provider of an upstream sign-in (the new-device
	// notice says it).
	via string
}

// finishSignIn ends every completed sign-in, whatever its method, inside
// its transaction: the account check (mayEnter), last_login, the session
// replaced by a signed-in one (rotation), the event, and the browser
// check that mails a new-device notice. One place, so no way in can skip
// one of them.
func (a *Accounts) finishSignIn(tx *gorm.DB, ctx context.Context, s signInStep) (models.NewSession, error) {
	u := s.user
	if err := a.mayEnter(u); err != nil {
		return models.NewSession{}, err
	}
	now := time.Now().UTC()
	if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("last_login", now).Error; err != nil {
		return models.NewSession{}, err
	}
	u.LastLogin = &now
	ns, err := models.SignIn(tx, ctx, s.sessionID, u, s.method, s.remember, a.policy.lifetimes())
	if err != nil {
		return models.NewSession{}, err
	}
	if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventLoginSucceeded, u, nil, s.detail)); err != nil {
		return models.NewSession{}, err
	}
	if !a.policy.NewDeviceNotice {
		return ns, nil
	}
	return ns, noteDevice(tx, ctx, u, s.device, s.via)
}

// verify checks username and password. On ErrInvalidCredentials it still
// returns the account when one has that name (so the failure can be linked
// to it). rehash reports that the stored hash should be upgraded.
func (a *Accounts) verify(ctx context.Context, username, password string) (user *models.User, rehash bool, err error) {
	if validate.CleanText(username) != "" || validate.CleanText(password) != "" ||
		len(username) > 4*validate.UsernameMaxLen || len(password) > 4*validate.PasswordMaxLen {
		// Input no account can have: refuse without hashing, which also
		// makes an oversized password cheap to refuse.
		return nil, false, models.ErrInvalidCredentials
	}
	u, err := a.users.ByUsername(ctx, username)
	if errors.Is(err, models.ErrNotFound) {
		if err := a.hasher.VerifyDummy(ctx, password); err != nil {
			return nil, false, err
		}
		return nil, false, models.ErrInvalidCredentials
	}
	if err != nil {
		return nil, false, err
	}
	ok, rehash, err := a.hasher.Verify(ctx, password, u.Password)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return u, false, models.ErrInvalidCredentials
	}
	if !u.IsActive {
		return u, false, models.ErrAccountInactive
	}
	return u, rehash, nil
}

// Logout ends the session row sessionID (may be "") of user (nil when not
// signed in) and records the event, in one transaction.
func (a *Accounts) Logout(ctx context.Context, sessionID string, user *models.SessionUser) error {
	return a.transaction(ctx, "logout", func(tx *gorm.DB) error {
		if sessionID != "" {
			// The apps this browser signed in to hear of it (with the
			// session's sid), queued before the row and its record go.
			if err := models.QueueOIDCSessionLogout(tx, sessionID); err != nil {
				return err
			}
			if err := tx.Delete(&models.Session{}, "id = ?", sessionID).Error; err != nil {
				return err
			}
		}
		if user == nil {
			return nil
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventLogout, user, nil, ""))
	})
}
