package auth

import (
	"context"
	"errors"
	"gatehouse/models"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// initMFA derives the two-factor keys from SECRET_KEY and the passkey
// relying party from BASE_URL; without them those features say they are
// not available.
func (a *Accounts) initMFA() {
	a.mfa, _ = newMFAKeys(a.policy.SecretKey)
	if a.policy.SecondFactorPerUser == (models.Limit{}) {
		a.policy.SecondFactorPerUser = DefaultSecondFactorLimit
	}
	a.passkeys = newPasskeyConfig(a.policy.BaseURL)
}

// secondFactorRule is the limit on second-factor attempts for userID.
func (a *Accounts) secondFactorRule(userID uint) models.Rule {
	return models.NewRule(ScopeSecondFactor, a.policy.SecondFactorPerUser, strconv.FormatUint(uint64(userID), 10))
}

// beginSecondFactor ends Login for a user with a second factor: in one
// transaction the password counters are settled as for a login, the hash
// upgraded, and the browser's session replaced by a new PENDING one (not
// signed in) that remembers the "remember me" choice. The login completes
// in CompleteSecondFactor or PasskeySecondFactor.
func (a *Accounts) beginSecondFactor(ctx context.Context, in LoginInput, user *models.User, newHash string, userIP models.Rule, taken models.Taken) (*LoginResult, error) {
	var out LoginResult
	err := a.transaction(ctx, "login (second factor due)", func(tx *gorm.DB) error {
		u, err := lockUser(tx, user.ID)
		if errors.Is(err, models.ErrNotFound) {
			return models.ErrInvalidCredentials
		}
		if err != nil {
			return err
		}
		if !u.IsActive || u.Password != user.Password {
			return models.ErrInvalidCredentials
		}
		if newHash != "" {
			if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("password", newHash).Error; err != nil {
				return err
			}
		}
		if err := models.ResetRule(tx, userIP); err != nil {
			return err
		}
		if err := models.GiveBack(tx, taken, ScopeLoginIP); err != nil {
			return err
		}
		ns, err := a.pendingSession(tx, ctx, in.SessionID, u, in.Remember, models.AuthPassword, "")
		out = LoginResult{User: u, Session: ns, Pending: true}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// pendingSession replaces the browser's session sessionID with a new
// PENDING one for u (not signed in: a second factor is due) that keeps
// the remember choice, and records the event (detail: how the first step
// was passed), inside tx. Password and upstream sign-ins share it. first
// is the first step's method (models.AuthPassword, or the provider's),
// kept in the pending row's auth_method — not signed in, so it decides
// nothing — until the second step names both (withFirstStep).
func (a *Accounts) pendingSession(tx *gorm.DB, ctx context.Context, sessionID string, u *models.User, remember bool, first, detail string) (models.NewSession, error) {
	if sessionID != "" {
		if err := tx.Delete(&models.Session{}, "id = ?", sessionID).Error; err != nil {
			return models.NewSession{}, err
		}
	}
	now := time.Now().UTC()
	ns, err := models.CreateSession(tx, ctx, models.SessionState{PendingUserID: &u.ID, PendingAt: &now, AuthMethod: first}, a.policy.lifetimes())
	if err != nil {
		return models.NewSession{}, err
	}
	if remember {
		if err := tx.Model(&models.Session{}).Where("id = ?", ns.State.ID).Update("pending_remember", true).Error; err != nil {
			return models.NewSession{}, err
		}
	}
	return ns, models.RecordEvent(tx, ctx, models.UserEvent(models.EventSecondFactorPending, u, nil, detail))
}

// SecondFactorInput is a code given at the second login step.
type SecondFactorInput struct {
	// SessionID is the browser's pending session.
	SessionID string
	// Code is a TOTP code or a recovery code as typed.
	Code string
	IP   string
	// Device is the browser's device cookie (new-device notice).
	Device string
}

// SecondFactorResult is a completed login; RecoveryLeft is how many
// recovery codes remain when one was used (-1 otherwise).
type SecondFactorResult struct {
	LoginResult
	RecoveryLeft int
}

// pendingStep is what a pending session remembers of the first step.
type pendingStep struct {
	remember bool
	first    string // its method (pendingSession)
}

// pendingUser reads the pending session sessionID inside tx and returns
// its user (active) and the first step; ErrSecondFactorExpired when the
// session is not pending or has lapsed.
func pendingUser(tx *gorm.DB, sessionID string) (*models.User, pendingStep, error) {
	if sessionID == "" {
		return nil, pendingStep{}, ErrSecondFactorExpired
	}
	var row models.Session
	err := tx.Select("id", "pending_user_id", "pending_at", "pending_remember", "auth_method", "expires_at").
		Where("id = ? AND pending_user_id IS NOT NULL AND expires_at > ?", sessionID, time.Now().UTC()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, pendingStep{}, ErrSecondFactorExpired
	}
	if err != nil {
		return nil, pendingStep{}, err
	}
	if row.PendingAt == nil || time.Since(*row.PendingAt) > models.PendingSecondFactorLifetime {
		return nil, pendingStep{}, ErrSecondFactorExpired
	}
	u, err := lockUser(tx, *row.PendingUserID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !u.IsActive) {
		return nil, pendingStep{}, ErrSecondFactorExpired
	}
	return u, pendingStep{remember: row.PendingRemember, first: row.AuthMethod}, err
}

// PendingUser returns the user a pending session waits for.
func (a *Accounts) PendingUser(ctx context.Context, sessionID string) (*models.User, error) {
	u, _, err := pendingUser(a.db.WithContext(ctx), sessionID)
	if err != nil && !errors.Is(err, ErrSecondFactorExpired) {
		return nil, models.DBError("pending login", err)
	}
	return u, err
}

// CompleteSecondFactor finishes a pending login with a TOTP code or a
// recovery code.
//
//  1. The attempt is taken against the account's second-factor limit
//     first (its own transaction), so 10⁶ codes cannot be walked: over it,
//     a *ThrottledError and no code is checked.
//  2. In one transaction: the pending session is re-read (still pending,
//     not lapsed, user active); the code is spent by a conditional UPDATE
//     (a TOTP step later than the last used one, or an unused recovery
//     code), so one code never works twice even under a parallel burst; the
//     limit is reset; the pending session is replaced by a signed-in one
//     (rotation) with the remember choice made at the password step; the
//     event is recorded and, for a recovery code, the owner mailed.
//  3. A wrong code is recorded (its own transaction) and is ErrWrongCode.
func (a *Accounts) CompleteSecondFactor(ctx context.Context, in SecondFactorInput) (*SecondFactorResult, error) {
	u, err := a.PendingUser(ctx, in.SessionID)
	if err != nil {
		return nil, err
	}
	rule := a.secondFactorRule(u.ID)
	// The block a wrong code starts is recorded with the failure below; a
	// refused take starts none.
	taken, err := a.take(ctx, "", &u.SessionUser, rule)
	if err != nil {
		return nil, err
	}
	code := NormalizeCode(in.Code)
	out := SecondFactorResult{RecoveryLeft: -1}
	err = a.transaction(ctx, "second factor", func(tx *gorm.DB) error {
		u, pending, err := pendingUser(tx, in.SessionID)
		if err != nil {
			return err
		}
		method, left, err := a.useCode(tx, u.ID, code)
		if err != nil {
			return err
		}
		return a.completeLogin(tx, ctx, signInStep{sessionID: in.SessionID, user: u, method: method, remember: pending.remember,
			device: in.Device}, pending.first, rule, &out, left)
	})
	if errors.Is(err, ErrWrongCode) {
		return nil, a.recordFailure(ctx, failedAttempt{op: "record wrong code",
			event: models.UserEvent(models.EventSecondFactorFailed, u, nil, ""), block: models.EventSecondFactorThrottle, user: &u.SessionUser, taken: taken}, ErrWrongCode)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// completeLogin is the end of every second step, inside its transaction:
// the limit reset, last_login set, the pending session replaced by a
// signed-in one, the event and, after a recovery code, the notice.
func (a *Accounts) completeLogin(tx *gorm.DB, ctx context.Context, step signInStep, first string, rule models.Rule, out *SecondFactorResult, recoveryLeft int64) error {
	if err := models.ResetRule(tx, rule); err != nil {
		return err
	}
	recovery := step.method == AuthPasswordRecovery
	step.method = withFirstStep(first, step.method)
	if step.via == "" {
		step.via = a.policy.ProviderNames[first] // "" after a password
	}
	step.detail = models.CodedDetail(models.DetailSecondFactor, "method", step.method)
	ns, err := a.finishSignIn(tx, ctx, step)
	if err != nil {
		return err
	}
	out.User, out.Session = step.user, ns
	if !recovery {
		return nil
	}
	out.RecoveryLeft = int(recoveryLeft)
	return recoveryCodeSpent(tx, ctx, step.user, recoveryLeft, *step.user.LastLogin)
}

// recoveryCodeSpent records that u used a recovery code at now (left
// remain) and mails the owner, inside tx: a sign-in or a confirmation with
// a recovery code is worth knowing about.
func recoveryCodeSpent(tx *gorm.DB, ctx context.Context, u *models.User, left int64, now time.Time) error {
	if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventRecoveryCodeUsed, u, nil, models.CodedDetail(models.DetailRecoveryCodesLeft, "count", strconv.FormatInt(left, 10)))); err != nil {
		return err
	}
	if u.Email == "" {
		return nil
	}
	ci := models.ClientInfoOf(ctx)
	return models.Enqueue(tx, models.KindRecoveryCodeUsed, &u.ID, u.Email, map[string]string{
		"username": u.Username, "when": now.Format(time.RFC3339), "left": strconv.FormatInt(left, 10), "ip": ci.IP,
	})
}
