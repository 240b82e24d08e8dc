package auth

import (
	"cmp"
	"context"
	"errors"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"time"

	"gorm.io/gorm"
)

// DefaultReauthTimeout is how long a password confirmation lasts (the
// REAUTH_TIMEOUT setting).
const DefaultReauthTimeout = 10 * time.Minute

const reauthFailedDetailShort = "wrong password on the re-authentication form"

// ReauthInput is a signed-in user confirming it is them before a
// sensitive action.
type ReauthInput struct {
	User      *models.User
	SessionID string
	IP        string
	Password  string
	// Code is a TOTP code or a recovery code, as typed; required (beside
	// the password) when the user has a second factor.
	Code string
}

// ReauthResult is a confirmation: the session to adopt and, when a
// recovery code was spent, how many remain (-1 otherwise).
type ReauthResult struct {
	Session      models.NewSession
	RecoveryLeft int
}

// Reauthenticate is "sudo mode": the signed-in user gives their password
// again and, when they have a second factor (an authenticator app or a
// passkey), a code as well — a TOTP code or a recovery code, as at the
// second login step (PasskeyReauthenticate is the passkey-alone way).
//
//  1. Missing fields are a *ValidationError (the code only for users with
//     a second factor).
//  2. The password attempt is taken against the login limit of
//     (username, address) and checked (checkOwnPassword); a wrong one is
//     recorded and is ErrWrongPassword, and no code is looked at.
//  3. With a second factor, the code attempt is taken against the
//     account's second-factor limit before the code is checked, so a
//     stolen session that knows the password cannot walk 10⁶ codes.
//  4. One transaction: the user is re-read (still active, same hash); the
//     code is spent as at login (a TOTP step later than the last used one,
//     or an unused recovery code; a replay fails); the limits are reset;
//     the session is moved to a new token with reauth_at set; the event is
//     recorded and, for a recovery code, the owner mailed. A wrong code is
//     recorded (with the block it may start) and is ErrWrongCode.
func (a *Accounts) Reauthenticate(ctx context.Context, in ReauthInput) (*ReauthResult, error) {
	u := in.User
	has, err := a.HasSecondFactor(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	verr := models.NewValidationError()
	if in.Password == "" {
		verr.Add("password", MsgRequired)
	}
	if has && in.Code == "" {
		verr.Add("code", MsgRequired)
	}
	if err := verr.OrNil(); err != nil {
		return nil, err
	}
	userIP, err := a.checkOwnPassword(ctx, u, in.IP, in.Password, models.EventReauthFailed, models.EventReauthThrottled, reauthFailedDetailShort)
	if err != nil {
		return nil, err
	}
	codeRule := a.secondFactorRule(u.ID)
	var taken models.Taken
	if has {
		if taken, err = a.take(ctx, "", u, codeRule); err != nil {
			return nil, err
		}
	}
	code := NormalizeCode(in.Code)
	out := ReauthResult{RecoveryLeft: -1}
	err = a.transaction(ctx, "re-authenticate", func(tx *gorm.DB) error {
		cur, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if !cur.IsActive || cur.Password != u.Password {
			return ErrWrongPassword // changed or deactivated meanwhile
		}
		method := models.AuthPassword
		if !has {
			// A factor added since the look-up above needs its code too.
			if added, err := hasSecondFactor(tx, u.ID); err != nil || added {
				return cmp.Or(err, ErrWrongCode)
			}
		} else {
			var left int64
			if method, left, err = a.useCode(tx, u.ID, code); err != nil {
				return err
			}
			if method == AuthPasswordRecovery {
				out.RecoveryLeft = int(left)
			}
			if err := models.ResetRule(tx, codeRule); err != nil {
				return err
			}
		}
		if err := models.ResetRule(tx, userIP); err != nil {
			return err
		}
		if out.Session, err = sudoSession(tx, ctx, cur, in.SessionID, a.policy.lifetimes(), method); err != nil {
			return err
		}
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventReauthenticated, cur, nil, method)); err != nil {
			return err
		}
		if method != AuthPasswordRecovery {
			return nil
		}
		return recoveryCodeSpent(tx, ctx, cur, int64(out.RecoveryLeft), time.Now().UTC())
	})
	if errors.Is(err, ErrWrongCode) {
		return nil, a.recordFailure(ctx, failedAttempt{op: "record wrong re-authentication code",
			event: models.UserEvent(models.EventReauthFactorFailed, u, nil, "wrong code on the re-authentication form"),
			block: models.EventSecondFactorThrottle, user: u, taken: taken}, ErrWrongCode)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// sudoSession moves the signed-in session sessionID of u to a new token
// with reauth_at set to now, inside tx: a capability is added, so the
// token rotates, and the session's lifetime restarts. ErrNotFound when the
// session ended meanwhile. factor is how the confirmation was made: when
// it included a second factor and the session's sign-in did not, the
// session's auth_method becomes factor — a step-up, which forward auth's
// two_factor rules accept.
func sudoSession(tx *gorm.DB, ctx context.Context, u *models.User, sessionID string, life models.Lifetimes, factor string) (models.NewSession, error) {
	var row models.Session
	if err := tx.Clauses(lockingUpdate).Where("id = ? AND user_id = ?", sessionID, u.ID).Take(&row).Error; err != nil {
		return models.NewSession{}, models.ErrNotFound
	}
	if err := tx.Delete(&models.Session{}, "id = ?", row.ID).Error; err != nil {
		return models.NewSession{}, err
	}
	now := time.Now().UTC()
	method := row.AuthMethod
	if IsSecondFactor(factor) && !IsSecondFactor(method) {
		method = withFirstStep(method, factor) // "oidc:corp" stays named
	}
	ns, err := models.CreateSession(tx, ctx, models.SessionState{
		UserID: row.UserID, AuthAt: row.AuthAt, AuthMethod: method, ReauthAt: &now,
		Persistent: row.Persistent,
	}, life)
	if err != nil {
		return models.NewSession{}, err
	}
	ns.State.User = u
	return ns, nil
}

// checkOwnPassword checks a signed-in user's password for a sensitive
// action: the attempt is taken against the login limit of (username,
// address) first (a *ThrottledError over it; throttledKind records the
// block); a wrong password is recorded as failKind and is
// ErrWrongPassword. It returns the rule, for the caller to clear on
// success inside its transaction.
func (a *Accounts) checkOwnPassword(ctx context.Context, u *models.User, ip, password string, failKind, throttledKind models.EventKind, detail string) (models.Rule, error) {
	userIP, _ := a.loginRules(u.Username, ip)
	taken, err := a.take(ctx, throttledKind, u, userIP)
	if err != nil {
		return userIP, err
	}
	ok := false
	if validate.CleanText(password) == "" && len(password) <= 4*validate.PasswordMaxLen {
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
		event: models.UserEvent(failKind, u, nil, detail), block: throttledKind, user: u, taken: taken}, ErrWrongPassword)
}
