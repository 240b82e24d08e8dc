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

var reauthFailedDetailShort = models.CodedDetail(models.DetailWrongPasswordReauth)

// ReauthInput is a signed-in user confirming it is them before a
// sensitive action.
type ReauthInput struct {
	User      *models.SessionUser
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
	hash, userIP, err := a.checkOwnPassword(ctx, u, in.IP, in.Password, models.EventReauthFailed, models.EventReauthThrottled, reauthFailedDetailShort)
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
		if !cur.IsActive || cur.Password != hash {
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
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventReauthenticated, cur, nil, models.CodedDetail(models.DetailMethod, "method", method))); err != nil {
			return err
		}
		if method != AuthPasswordRecovery {
			return nil
		}
		return recoveryCodeSpent(tx, ctx, cur, int64(out.RecoveryLeft), time.Now().UTC())
	})
	if errors.Is(err, ErrWrongCode) {
		return nil, a.recordFailure(ctx, failedAttempt{op: "record wrong re-authentication code",
			event: models.UserEvent(models.EventReauthFactorFailed, u, nil, models.CodedDetail(models.DetailWrongCodeReauth)),
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
	ns, _, err := rotateSession(tx, ctx, u, sessionID, life, factor, true)
	return ns, err
}

// FactorSession is the signed-in session a second factor is set up in.
type FactorSession struct {
	ID string
	// ConfirmedWithin (REAUTH_TIMEOUT): the session becomes a two-factor
	// one only when its password was confirmed this recently.
	ConfirmedWithin time.Duration
}

// raiseSession makes the signed-in session s of u a two-factor one after
// u proved factor in it (a factor just set up: its first code, or the
// passkey just made), inside tx, when its password was confirmed within
// s.ConfirmedWithin (as the set-up pages require; checked again here, in
// the transaction that raises it). The token rotates, the password
// confirmation keeps its time. raised is false (and nothing changes) when
// the session already had a second factor, its confirmation is older, or
// it is no longer there (ended, or moved to a new token by a parallel
// request): the factor is still added.
func raiseSession(tx *gorm.DB, ctx context.Context, u *models.User, s FactorSession, life models.Lifetimes, factor string) (ns models.NewSession, raised bool, err error) {
	if s.ID == "" || s.ConfirmedWithin <= 0 {
		return models.NewSession{}, false, nil
	}
	var fresh int64
	if err := tx.Model(&models.Session{}).Where("id = ? AND user_id = ? AND reauth_at > ?",
		s.ID, u.ID, time.Now().UTC().Add(-s.ConfirmedWithin)).Count(&fresh).Error; err != nil {
		return models.NewSession{}, false, err
	}
	if fresh == 0 {
		return models.NewSession{}, false, nil
	}
	ns, raised, err = rotateSession(tx, ctx, u, s.ID, life, factor, false)
	if errors.Is(err, models.ErrNotFound) {
		return models.NewSession{}, false, nil
	}
	return ns, raised, err
}

// rotateSession moves sessionID to a new token, raising its auth_method to
// factor when that is a second factor and the session had none; sudo sets
// reauth_at to now. Without sudo, a session that needs no raising is left
// alone (rotated false).
func rotateSession(tx *gorm.DB, ctx context.Context, u *models.User, sessionID string, life models.Lifetimes, factor string, sudo bool) (models.NewSession, bool, error) {
	var row models.Session
	if err := tx.Clauses(lockingUpdate).Where("id = ? AND user_id = ?", sessionID, u.ID).Take(&row).Error; err != nil {
		return models.NewSession{}, false, models.ErrNotFound
	}
	method := row.AuthMethod
	if IsSecondFactor(factor) && !IsSecondFactor(method) {
		method = withFirstStep(method, factor) // "oidc:corp" stays named
	}
	if !sudo && method == row.AuthMethod {
		return models.NewSession{}, false, nil
	}
	reauthAt := row.ReauthAt
	if sudo {
		now := time.Now().UTC()
		reauthAt = &now
	}
	ns, err := models.CreateSession(tx, ctx, models.SessionState{
		UserID: row.UserID, AuthAt: row.AuthAt, AuthMethod: method, ReauthAt: reauthAt,
		Persistent: row.Persistent,
	}, life)
	if err != nil {
		return models.NewSession{}, false, err
	}
	// The apps this browser signed in to stay its (their sid too), so
	// its sign-out still tells them; then the old row goes.
	if err := models.MoveOIDCSessionClients(tx, row.ID, ns.State.ID); err != nil {
		return models.NewSession{}, false, err
	}
	if err := tx.Delete(&models.Session{}, "id = ?", row.ID).Error; err != nil {
		return models.NewSession{}, false, err
	}
	ns.State.User = &u.SessionUser
	return ns, true, nil
}

// checkOwnPassword checks a signed-in user's password for a sensitive
// action: the attempt is taken against the login limit of (username,
// address) first (a *ThrottledError over it; throttledKind records the
// block); a wrong password is recorded as failKind and is
// ErrWrongPassword. The hash is read from the user's row here (the
// session's user does not carry it); it returns the hash the password was
// checked against, for the caller's transaction to require unchanged, and
// the rule, for it to clear on success. A user gone or deactivated since
// the session lookup is ErrWrongPassword.
func (a *Accounts) checkOwnPassword(ctx context.Context, u *models.SessionUser, ip, password string, failKind, throttledKind models.EventKind, detail string) (hash string, userIP models.Rule, err error) {
	userIP, _ = a.loginRules(u.Username, ip)
	taken, err := a.take(ctx, throttledKind, u, userIP)
	if err != nil {
		return "", userIP, err
	}
	row, err := a.rowOf(ctx, u, ErrWrongPassword)
	if err != nil {
		return "", userIP, err
	}
	ok := false
	if validate.CleanText(password) == "" && len(password) <= 4*validate.PasswordMaxLen {
		if ok, _, err = a.hasher.Verify(ctx, password, row.Password); err != nil {
			return "", userIP, err
		}
	} else if err := a.hasher.VerifyDummy(ctx, password); err != nil {
		return "", userIP, err
	}
	if ok {
		return row.Password, userIP, nil
	}
	return "", userIP, a.recordFailure(ctx, failedAttempt{op: "record failed password check",
		event: models.UserEvent(failKind, u, nil, detail), block: throttledKind, user: u, taken: taken}, ErrWrongPassword)
}

// rowOf reads the whole row of the signed-in user u, of which the
// session lookup reads only a part (models.SessionUser), for a flow that
// checks the password hash or reads the keys; the flow's transaction
// still re-reads what guards its write. A user gone or deactivated since
// the lookup is gone (the flow's refusal).
func (a *Accounts) rowOf(ctx context.Context, u *models.SessionUser, gone error) (*models.User, error) {
	row, err := a.users.ByID(ctx, u.ID)
	if errors.Is(err, models.ErrNotFound) || err == nil && !row.IsActive {
		return nil, gone
	}
	return row, err
}
