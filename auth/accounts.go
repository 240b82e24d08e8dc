package auth

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// lockingUpdate reads rows FOR UPDATE on PostgreSQL; the SQLite dialect
// drops the clause (its write transaction already holds the lock).
var lockingUpdate = clause.Locking{Strength: "UPDATE"}

// Accounts holds Gatehouse's security flows — log in, sign up, change,
// reset and set a password, request a reset, the staff admin's changes,
// revoking sessions, logging out — one method each. Every method validates
// and does the expensive work (hashing) first, then makes every write of
// the flow in ONE transaction: the change itself, the sessions it ends or
// creates, the tokens it voids, the security event and the e-mails it
// queues in the outbox. A crash or a lock between two statements therefore
// leaves all of it or none of it. Handlers and management commands only
// translate input and outcomes.
type Accounts struct {
	db        *gorm.DB
	hasher    *passhash.Hasher
	users     *models.Users
	throttles *models.Throttles
	outbox    *models.Outbox
	policy    Policy
	mfa       *mfaKeys // nil without SECRET_KEY (auth/mfa*.go)
	passkeys  *passkeyConfig
}

// Policy is what the flows take from configuration.
type Policy struct {
	// SessionLifetime is how long a signed-in session lasts; one that is
	// not remembered ends after SessionIdleTimeout without a request.
	SessionLifetime    time.Duration
	SessionIdleTimeout time.Duration
	// ResetTimeout is how long a reset link works; ResetThrottle how long
	// after a reset mail no second one goes to the same account while the
	// first link is unused.
	ResetTimeout  time.Duration
	ResetThrottle time.Duration
	// LoginPerUserIP limits login attempts for one username from one
	// client address (also password-change attempts on that account);
	// LoginPerIP login failures from one address whatever the username.
	LoginPerUserIP models.Limit
	LoginPerIP     models.Limit
	// ResetPerEmail limits reset requests for one address (silently);
	// ResetPerIP from one client address (refused with 429).
	ResetPerEmail models.Limit
	ResetPerIP    models.Limit
	// SignupPerIP limits sign-ups that reach hashing; SignupCheckPerIP
	// username look-ups, from one client address.
	SignupPerIP      models.Limit
	SignupCheckPerIP models.Limit
	// SecretKey seals second-factor secrets (keys derived with HKDF);
	// BaseURL gives passkeys their relying party; SecondFactorPerUser
	// limits second-factor codes per account (auth/mfa.go).
	SecretKey           string
	BaseURL             string
	SecondFactorPerUser models.Limit
	// EmailVerification is the EMAIL_VERIFICATION mode (VerifyOptional
	// when empty).
	EmailVerification string
	// NewDeviceNotice remembers the browsers each account signs in from
	// and mails a notice for a new one (device.go).
	NewDeviceNotice bool
	// MaxPasskeys bounds the passkeys of one account (DefaultMaxPasskeys
	// when 0).
	MaxPasskeys int
	// SocialEmailAuthentication connects an identity from another
	// provider to the account with the same address when both sides have
	// it verified (django-allauth's SOCIALACCOUNT_EMAIL_AUTHENTICATION;
	// off: the person signs in to the account and connects it).
	SocialEmailAuthentication bool
	// UpstreamPerIP limits sign-ins through other providers started from
	// one client address (each stores a flow and may reach the provider).
	UpstreamPerIP models.Limit
	// ProviderNames are the other providers' display names by their
	// method ("oidc:corp" → "Corp SSO"), for the new-browser notice of a
	// sign-in completed by a second factor after one of them.
	ProviderNames map[string]string
}

// MaxPasskeys is the MAX_PASSKEYS cap.
func (a *Accounts) MaxPasskeys() int { return a.maxPasskeys() }

func (a *Accounts) maxPasskeys() int {
	if a.policy.MaxPasskeys > 0 {
		return a.policy.MaxPasskeys
	}
	return DefaultMaxPasskeys
}

// Default policy values.
const (
	DefaultSessionLifetime = 14 * 24 * time.Hour // Django's SESSION_COOKIE_AGE
	DefaultResetThrottle   = 5 * time.Minute
)

// NewAccounts returns the flows over db.
func NewAccounts(db *gorm.DB, hasher *passhash.Hasher, outbox *models.Outbox, p Policy) *Accounts {
	if p.SessionLifetime <= 0 {
		p.SessionLifetime = DefaultSessionLifetime
	}
	if p.ResetTimeout <= 0 {
		p.ResetTimeout = models.DefaultResetTimeout
	}
	if p.ResetThrottle <= 0 {
		p.ResetThrottle = DefaultResetThrottle
	}
	a := &Accounts{db: db, hasher: hasher, users: models.NewUsers(db, hasher), throttles: models.NewThrottles(db), outbox: outbox, policy: p}
	a.initMFA()
	return a
}

func (p Policy) lifetimes() models.Lifetimes {
	return models.Lifetimes{Lifetime: p.SessionLifetime, Idle: p.SessionIdleTimeout}
}

// Policy returns the policy the flows apply.
func (a *Accounts) Policy() Policy { return a.policy }

// Throttle scopes: what a counter counts. They are part of the stored key's
// hash and shown in logs and security events.
const (
	ScopeLoginUserIP = "login:user+ip"
	ScopeLoginIP     = "login:ip"
	ScopeResetEmail  = "reset:email"
	ScopeResetIP     = "reset:ip"
	ScopeSignupIP    = "signup:ip"
	ScopeSignupCheck = "signup-check:ip"
	// ScopeUpstreamIP counts sign-ins started through other providers.
	ScopeUpstreamIP = "upstream:ip"
)

// ThrottledError reports an attempt refused by a limit: try again after
// Wait. Scope names the limit.
type ThrottledError struct {
	Wait  time.Duration
	Scope string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts (%s); retry in %s", e.Scope, e.Wait.Round(time.Second))
}

// usernameKeyForThrottle is the username part of a login key, computed on
// at most a bounded prefix so hostile input costs nothing to key.
func usernameKeyForThrottle(username string) string {
	return validate.UsernameKey(models.Truncate(username, 4*validate.UsernameMaxLen))
}

// loginRules are the limits on login attempts: per (username, client
// address), so guessing one account from elsewhere never locks its owner
// out from their own address, and per client address, so one address cannot
// spray guesses across many accounts. There is deliberately no limit per
// username alone: anyone could then lock any account.
func (a *Accounts) loginRules(username, ip string) (userIP, perIP models.Rule) {
	addr := models.ThrottleIP(ip)
	return models.NewRule(ScopeLoginUserIP, a.policy.LoginPerUserIP, usernameKeyForThrottle(username), addr),
		models.NewRule(ScopeLoginIP, a.policy.LoginPerIP, addr)
}

// take reserves an attempt against rules in its own transaction (so
// parallel requests see it at once) and, when the attempt started a block,
// records kind in the same transaction. A refused attempt is a
// *ThrottledError.
func (a *Accounts) take(ctx context.Context, kind models.EventKind, user *models.SessionUser, rules ...models.Rule) (models.Taken, error) {
	var taken models.Taken
	err := a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if taken, err = a.throttles.TakeTx(tx, rules...); err != nil || taken.Refused() {
			return err
		}
		return recordBlock(tx, ctx, kind, user, taken)
	})
	if err != nil {
		return models.Taken{}, models.DBError("take throttle", err)
	}
	if taken.Refused() {
		return taken, &ThrottledError{Wait: taken.Wait, Scope: taken.WaitScope}
	}
	return taken, nil
}

// recordBlock records kind when the attempt in taken started a block: once
// per block, not per refused request, so a flood cannot fill the log.
func recordBlock(tx *gorm.DB, ctx context.Context, kind models.EventKind, user *models.SessionUser, taken models.Taken) error {
	if taken.Blocked <= 0 || kind == "" {
		return nil
	}
	e := models.AuthEvent{Kind: kind, Detail: blockDetail(taken)}
	if user != nil {
		e.UserID, e.Username = &user.ID, user.Username
	}
	return models.RecordEvent(tx, ctx, e)
}

// failedAttempt is a refused attempt to record: its event, and the block
// that taking the attempt started (if it did), linked to user.
type failedAttempt struct {
	op    string              // names the transaction in errors
	event models.AuthEvent    // the failure itself
	block models.EventKind    // recorded once when taken started a block
	user  *models.SessionUser // the account the block is linked to (nil: none)
	taken models.Taken        // the attempt, as the flow's take returned it
}

// recordFailure records f's event and the block its attempt started in
// one transaction and returns refusal (the flow's sentinel, such as
// ErrWrongPassword) — or the error that kept them from being recorded.
func (a *Accounts) recordFailure(ctx context.Context, f failedAttempt, refusal error) error {
	err := a.transaction(ctx, f.op, func(tx *gorm.DB) error {
		if err := models.RecordEvent(tx, ctx, f.event); err != nil {
			return err
		}
		return recordBlock(tx, ctx, f.block, f.user, f.taken)
	})
	if err != nil {
		return err
	}
	return refusal
}

// transaction runs fn in one transaction and maps its error, letting the
// package's sentinels and typed errors through.
func (a *Accounts) transaction(ctx context.Context, op string, fn func(tx *gorm.DB) error) error {
	err := a.db.WithContext(ctx).Transaction(fn)
	if err == nil {
		a.outbox.Nudge()
		return nil
	}
	var verr *models.ValidationError
	if errors.As(err, &verr) {
		return verr
	}
	for _, s := range []error{models.ErrInvalidCredentials, models.ErrInvalidToken, ErrWrongPassword, models.ErrDuplicateUsername, models.ErrDuplicateEmail,
		ErrNotAllowed, ErrOwnSuperuser, ErrDeactivateSelf, ErrDeleteSelf, ErrLastSuperuser, models.ErrNotFound, ErrSetOwnPassword,
		ErrWrongCode, ErrSecondFactorExpired, ErrUpstreamState, ErrIdentityTaken, ErrIdentityNotYours, ErrLastWayIn, ErrUpstreamEmailInUse, ErrTOTPExists, ErrNoSecondFactor, ErrSetupExpired, ErrMFAUnavailable, ErrPasskeyFailed} {
		if errors.Is(err, s) {
			return s
		}
	}
	if models.IsUniqueViolation(err) {
		// A username (or its look-alike skeleton) or an e-mail address
		// another account has: the unique index says which.
		if strings.Contains(models.UniqueIndexOf(err), "email") {
			return models.ErrDuplicateEmail
		}
		return models.ErrDuplicateUsername
	}
	return models.DBError(op, err)
}

// sessionPart is u's SessionUser part (nil for nil): what the throttles'
// records link to.
func sessionPart(u *models.User) *models.SessionUser {
	if u == nil {
		return nil
	}
	return &u.SessionUser
}

// lockUser reads the user row for update inside tx (a row lock on
// PostgreSQL; SQLite's write transaction already serialises writers).
func lockUser(tx *gorm.DB, id uint) (*models.User, error) {
	var u models.User
	if err := tx.Clauses(lockingUpdate).Take(&u, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, models.ErrNotFound
		}
		return nil, err
	}
	return &u, nil
}

// notifyPasswordChanged queues the "your password was changed" notice.
func notifyPasswordChanged(tx *gorm.DB, u *models.User) error {
	return notifyPasswordChangedWith(tx, u, nil)
}

// notifyPasswordChangedWith queues the notice with extra payload (a reset
// names the account's second factors).
func notifyPasswordChangedWith(tx *gorm.DB, u *models.User, extra map[string]string) error {
	if u.Email == "" {
		return nil
	}
	d := map[string]string{"username": u.Username, "when": time.Now().UTC().Format(time.RFC3339)}
	for k, v := range extra {
		d[k] = v
	}
	return models.Enqueue(tx, models.KindPasswordChanged, &u.ID, u.Email, d)
}

// endSessions deletes every session of userID but except (may be "") and
// returns how many ended.
func endSessions(tx *gorm.DB, userID uint, except string) (int64, error) {
	res := tx.Where("(user_id = ? OR pending_user_id = ?) AND id <> ?", userID, userID, except).Delete(&models.Session{})
	return res.RowsAffected, res.Error
}

// blockDetail is a block's event detail: the rule's scope and how long it
// lasts, in seconds under a minute, else in whole minutes (rounded up).
func blockDetail(taken models.Taken) string {
	if taken.Blocked < time.Minute {
		secs := max(1, int64((taken.Blocked+time.Second-1)/time.Second))
		return models.CodedDetail(models.DetailBlockedSeconds, "scope", taken.BlockScope, "count", strconv.FormatInt(secs, 10))
	}
	mins := int64((taken.Blocked + time.Minute - 1) / time.Minute)
	return models.CodedDetail(models.DetailBlockedMinutes, "scope", taken.BlockScope, "count", strconv.FormatInt(mins, 10))
}
