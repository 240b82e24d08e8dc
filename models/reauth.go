package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Events of re-authentication ("sudo mode").
const (
	EventReauthenticated EventKind = "reauthenticated"
	EventReauthFailed    EventKind = "reauthentication_failed"
	EventReauthThrottled EventKind = "reauthentication_throttled"
)

// DefaultReauthTimeout is how long a password confirmation lasts (the
// REAUTH_TIMEOUT setting).
const DefaultReauthTimeout = 10 * time.Minute

const reauthFailedDetailShort = "wrong password on the re-authentication form"

// ReauthInput is a signed-in user confirming their password before a
// sensitive action.
type ReauthInput struct {
	User      *User
	SessionID string
	IP        string
	Password  string
}

// Reauthenticate is "sudo mode": the signed-in user gives their password
// again. The attempt is taken against the login limit of (username,
// address) first, so a stolen session cannot guess the password faster
// than a login could; a wrong password is recorded (with the block it may
// start) and gives ErrWrongPassword. On success, in one transaction: the
// user is re-read (still active, same hash), the session is moved to a new
// token (a capability is added) with reauth_at set to now, and the event is
// recorded. The returned session is to be adopted by the request.
func (a *Accounts) Reauthenticate(ctx context.Context, in ReauthInput) (NewSession, error) {
	u := in.User
	if in.Password == "" {
		verr := newValidationError()
		verr.add("password", MsgRequired)
		return NewSession{}, verr
	}
	userIP, err := a.checkOwnPassword(ctx, u, in.IP, in.Password, EventReauthFailed, EventReauthThrottled, reauthFailedDetailShort)
	if err != nil {
		return NewSession{}, err
	}
	var ns NewSession
	err = a.transaction(ctx, "re-authenticate", func(tx *gorm.DB) error {
		cur, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if !cur.IsActive || cur.Password != u.Password {
			return ErrWrongPassword // changed or deactivated meanwhile
		}
		var row Session
		if err := tx.Clauses(lockingUpdate).Where("id = ? AND user_id = ?", in.SessionID, u.ID).Take(&row).Error; err != nil {
			return ErrNotFound // the session ended meanwhile
		}
		if err := resetRule(tx, userIP); err != nil {
			return err
		}
		if err := tx.Delete(&Session{}, "id = ?", row.ID).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		if ns, err = createSession(tx, ctx, SessionState{
			UserID: row.UserID, AuthAt: row.AuthAt, AuthMethod: row.AuthMethod, ReauthAt: &now,
			Persistent: row.Persistent,
		}, a.policy.lifetimes()); err != nil {
			return err
		}
		ns.State.User = cur
		return recordEvent(tx, ctx, userEvent(EventReauthenticated, cur, nil, ""))
	})
	return ns, err
}

// checkOwnPassword checks a signed-in user's password for a sensitive
// action: the attempt is taken against the login limit of (username,
// address) first (a *ThrottledError over it; throttledKind records the
// block); a wrong password is recorded as failKind and is
// ErrWrongPassword. It returns the rule, for the caller to clear on
// success inside its transaction.
func (a *Accounts) checkOwnPassword(ctx context.Context, u *User, ip, password string, failKind, throttledKind EventKind, detail string) (Rule, error) {
	userIP, _ := a.loginRules(u.Username, ip)
	taken, err := a.take(ctx, throttledKind, u, userIP)
	if err != nil {
		return userIP, err
	}
	ok := false
	if CleanText(password) == "" && len(password) <= 4*PasswordMaxLen {
		if ok, _, err = a.hasher.Verify(ctx, password, u.Password); err != nil {
			return userIP, err
		}
	} else if err := a.hasher.VerifyDummy(ctx, password); err != nil {
		return userIP, err
	}
	if ok {
		return userIP, nil
	}
	return userIP, a.recordFailure(ctx, failedAttempt{op: "record failed password check",
		event: userEvent(failKind, u, nil, detail), block: throttledKind, user: u, taken: taken}, ErrWrongPassword)
}
