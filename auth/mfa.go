package auth

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"gatehouse/internal/secret"
	"gatehouse/models"
)

// Authentication methods of sessions signed in with a second factor.
const (
	AuthPasswordTOTP     = "password+totp"
	AuthPasswordRecovery = "password+recovery"
	AuthPasswordPasskey  = "password+passkey"
	AuthPasskey          = "passkey"
)

// IsSecondFactor reports whether a session's auth_method shows a second
// factor (forward auth's two_factor policy): a passkey, or a first step
// (a password, another provider) followed by one.
func IsSecondFactor(method string) bool {
	if method == AuthPasskey {
		return true
	}
	first, factor, ok := strings.Cut(method, "+")
	return ok && first != "" && (factor == "totp" || factor == "recovery" || factor == "passkey")
}

// withFirstStep is the auth_method of a sign-in whose second step was
// factor (AuthPasswordTOTP, AuthPasswordRecovery, AuthPasswordPasskey)
// after the first step first: the factor's own name after a password,
// "oidc:corp+totp" after another provider, so the session says both.
func withFirstStep(first, factor string) string {
	if first == "" || first == models.AuthPassword || first == models.AuthSignup {
		return factor
	}
	return first + "+" + strings.TrimPrefix(factor, models.AuthPassword+"+")
}

// ScopeSecondFactor is the throttle scope of second-factor codes: keyed by
// the account, so codes cannot be walked from many addresses.
const ScopeSecondFactor = "2fa:user"

// DefaultSecondFactorLimit: five wrong codes per quarter hour, then blocks
// that double. 10⁶ codes at that rate take decades.
var DefaultSecondFactorLimit = models.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute, MaxBlock: 24 * time.Hour}

// RecoveryCodeCount is how many recovery codes a set has;
// RecoveryCodesLow how few left earn a warning.
const (
	RecoveryCodeCount = 10
	RecoveryCodesLow  = 3
)

// TOTP parameters: what every authenticator app understands.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// setupValidFor bounds how long an activation page's secret works.
	setupValidFor = 30 * time.Minute
)

// Errors of the two-factor flows.
var (
	// ErrWrongCode is a TOTP or recovery code that is wrong, already used or
	// for another step.
	ErrWrongCode = errors.New("the code is not valid")
	// ErrSecondFactorExpired is a pending login that has lapsed (or never
	// was): the password must be entered again.
	ErrSecondFactorExpired = errors.New("the sign-in has expired; enter your password again")
	// ErrTOTPExists: the account already has an authenticator app.
	ErrTOTPExists = errors.New("an authenticator app is already set up")
	// ErrNoSecondFactor: recovery codes need a factor to recover.
	ErrNoSecondFactor = errors.New("set up an authenticator app or a passkey first")
	// ErrSetupExpired is an activation form too old (or tampered with).
	ErrSetupExpired = errors.New("this set-up page has expired; start again")
	// ErrFactorNeedsVerifiedEmail: no second factor may be added to an account whose
	// address was never confirmed (pre-hijacking: someone who signed up
	// with another person's address must not plant factors the owner will
	// meet after a reset). django-allauth refuses the same way.
	ErrFactorNeedsVerifiedEmail = errors.New("confirm your e-mail address before adding two-factor authentication")
)

// FactorsAllowed reports whether u may add a second factor: only once its
// address is confirmed (an account without an address has nobody else's
// address to hijack, and no reset by e-mail).
func FactorsAllowed(u *models.SessionUser) error {
	if u.Email != "" && !u.EmailVerified {
		return ErrFactorNeedsVerifiedEmail
	}
	return nil
}

// factorSummary describes userID's factors in words for a notice ("an
// authenticator app, 2 passkeys and 8 recovery codes"); "" when none. The
// counts go beside it in the payload (factor_totp, factor_passkeys,
// factor_codes), from which the mail says it in the recipient's language.
func factorSummary(tx *gorm.DB, userID uint, payload map[string]string) (string, error) {
	var rows []models.Authenticator
	if err := tx.Select("kind", "used_at").Where("user_id = ?", userID).Find(&rows).Error; err != nil {
		return "", err
	}
	var totp bool
	var passkeys, codes int
	for _, r := range rows {
		switch r.Kind {
		case models.FactorTOTP:
			totp = true
		case models.FactorPasskey:
			passkeys++
		case models.FactorRecovery:
			if r.UsedAt == nil {
				codes++
			}
		}
	}
	if totp || passkeys > 0 || codes > 0 {
		payload["factor_totp"] = strconv.FormatBool(totp)
		payload["factor_passkeys"] = strconv.Itoa(passkeys)
		payload["factor_codes"] = strconv.Itoa(codes)
	}
	var parts []string
	if totp {
		parts = append(parts, "an authenticator app")
	}
	switch {
	case passkeys == 1:
		parts = append(parts, "1 passkey")
	case passkeys > 1:
		parts = append(parts, strconv.Itoa(passkeys)+" passkeys")
	}
	switch {
	case codes == 1:
		parts = append(parts, "1 recovery code")
	case codes > 1:
		parts = append(parts, strconv.Itoa(codes)+" recovery codes")
	}
	switch len(parts) {
	case 0:
		return "", nil
	case 1:
		return parts[0], nil
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1], nil
}

// MFAAvailable reports whether SECRET_KEY is set, so two-factor
// authentication can be used.
func (a *Accounts) MFAAvailable() bool { return a.mfa != nil }

// MFAStatus is a user's second factors, for the overview and the admin.
type MFAStatus struct {
	TOTP          bool
	TOTPAddedAt   time.Time
	RecoveryLeft  int
	RecoveryTotal int
	Passkeys      []Passkey
}

// Enabled reports whether the user has a second factor.
func (s MFAStatus) Enabled() bool { return s.TOTP || len(s.Passkeys) > 0 }

// RecoveryLow reports whether few recovery codes are left.
func (s MFAStatus) RecoveryLow() bool { return s.Enabled() && s.RecoveryLeft <= RecoveryCodesLow }

// Passkey is a registered passkey as its owner sees it.
type Passkey struct {
	ID         uint
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// MFAStatus returns userID's second factors.
func (a *Accounts) MFAStatus(ctx context.Context, userID uint) (MFAStatus, error) {
	var rows []models.Authenticator
	if err := a.db.WithContext(ctx).Select("id", "kind", "name", "used_at", "created_at", "last_used_at").
		Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return MFAStatus{}, models.DBError("load authenticators", err)
	}
	var s MFAStatus
	for _, r := range rows {
		switch r.Kind {
		case models.FactorTOTP:
			s.TOTP, s.TOTPAddedAt = true, r.CreatedAt
		case models.FactorRecovery:
			s.RecoveryTotal++
			if r.UsedAt == nil {
				s.RecoveryLeft++
			}
		case models.FactorPasskey:
			s.Passkeys = append(s.Passkeys, Passkey{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt})
		}
	}
	return s, nil
}

// HasSecondFactor reports whether userID has an authenticator app or a
// passkey (recovery codes alone are not a factor).
func (a *Accounts) HasSecondFactor(ctx context.Context, userID uint) (bool, error) {
	ok, err := hasSecondFactor(a.db.WithContext(ctx), userID)
	return ok, models.DBError("check second factor", err)
}

func hasSecondFactor(tx *gorm.DB, userID uint) (bool, error) {
	var n int64
	err := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind IN ?", userID, []string{models.FactorTOTP, models.FactorPasskey}).
		Limit(1).Count(&n).Error
	return n > 0, err
}

// AnyFactors reports whether any user has a second factor (serve refuses
// to start without SECRET_KEY then).
func AnyFactors(ctx context.Context, db *gorm.DB) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&models.Authenticator{}).Where("kind IN ?", []string{models.FactorTOTP, models.FactorPasskey}).Limit(1).Count(&n).Error
	return n > 0, err
}

// TOTPSetup is an authenticator app being set up: the secret to show and
// the sealed state the activation form carries back (the secret exists
// nowhere else until a correct code activates it).
type TOTPSetup struct {
	Secret string // base32, as apps take it
	URI    string // otpauth://totp/...
	State  string // sealed: user, expiry, secret
}

// BeginTOTP makes a new secret for user.
func (a *Accounts) BeginTOTP(user *models.SessionUser) (TOTPSetup, error) {
	if a.mfa == nil {
		return TOTPSetup{}, ErrMFAUnavailable
	}
	key, err := totp.Generate(totpOpts(user.Username, nil))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("totp secret: %w", err)
	}
	plain := strconv.FormatInt(time.Now().Add(setupValidFor).Unix(), 10) + ":" + key.Secret()
	return TOTPSetup{Secret: key.Secret(), URI: key.URL(), State: a.mfa.setup.Seal([]byte(plain), userAAD(user.ID))}, nil
}

// ReopenTOTP returns the setup a form carried back (to show it again after
// a wrong code).
func (a *Accounts) ReopenTOTP(user *models.SessionUser, state string) (TOTPSetup, error) {
	secret, err := a.openSetup(user.ID, state)
	if err != nil {
		return TOTPSetup{}, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return TOTPSetup{}, ErrSetupExpired
	}
	key, err := totp.Generate(totpOpts(user.Username, raw))
	if err != nil {
		return TOTPSetup{}, ErrSetupExpired
	}
	return TOTPSetup{Secret: secret, URI: key.URL(), State: state}, nil
}

func totpOpts(account string, secret []byte) totp.GenerateOpts {
	return totp.GenerateOpts{Issuer: "Gatehouse", AccountName: account, Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, Secret: secret}
}

func (a *Accounts) openSetup(userID uint, state string) (string, error) {
	if a.mfa == nil {
		return "", ErrMFAUnavailable
	}
	plain, err := a.mfa.setup.Open(state, userAAD(userID))
	if err != nil {
		return "", ErrSetupExpired
	}
	exp, secret, ok := strings.Cut(string(plain), ":")
	unix, perr := strconv.ParseInt(exp, 10, 64)
	if !ok || perr != nil || time.Now().Unix() > unix {
		return "", ErrSetupExpired
	}
	return secret, nil
}

func userAAD(id uint) []byte { return binary.BigEndian.AppendUint64([]byte("user:"), uint64(id)) }

// matchTOTP returns the time step whose code equals code, among the steps
// now-1, now and now+1 that are later than after; ok false when none.
func matchTOTP(key, code string, after int64, now time.Time) (step int64, ok bool) {
	if !isTOTPCode(code) {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for s := cur - 1; s <= cur+1; s++ {
		if s <= after {
			continue
		}
		want, err := totp.GenerateCodeCustom(key, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && secret.Equal(want, code) {
			return s, true
		}
	}
	return 0, false
}

// isTOTPCode reports whether s looks like a TOTP code (six digits).
func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// NormalizeCode strips what people type around a code: spaces and dashes,
// and case.
func NormalizeCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// FactorAdded is what setting up a second factor gives: the new set of
// recovery codes (nil when the user kept theirs), to show once, and the
// session it was set up in, raised to a two-factor one (Raised false when
// it already was one, or no session was named).
type FactorAdded struct {
	Codes   []string
	Session models.NewSession
	Raised  bool
}

// ActivateTOTP enables the authenticator app set up in state once code is
// right, in one transaction: the sealed secret is stored (the code's step
// remembered, so it cannot sign in later), a set of recovery codes is made
// when the user has none left, the event and notice are written, and the
// signed-in session s (when named) becomes a two-factor one
// (raiseSession): its password was confirmed for the set-up page and the
// app's code was just given, what a step-up asks for.
func (a *Accounts) ActivateTOTP(ctx context.Context, userID uint, s FactorSession, state, code string) (FactorAdded, error) {
	secret, err := a.openSetup(userID, state)
	if err != nil {
		return FactorAdded{}, err
	}
	step, ok := matchTOTP(secret, NormalizeCode(code), 0, time.Now())
	if !ok {
		return FactorAdded{}, ErrWrongCode
	}
	var out FactorAdded
	err = a.transaction(ctx, "activate totp", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		if err := FactorsAllowed(&u.SessionUser); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ?", userID, models.FactorTOTP).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrTOTPExists
		}
		now := time.Now().UTC()
		if err := tx.Create(&models.Authenticator{UserID: userID, Kind: models.FactorTOTP, Name: "Authenticator app",
			Secret: a.mfa.atRest.Seal([]byte(secret), userAAD(userID)), LastUsedStep: step, CreatedAt: now}).Error; err != nil {
			return err
		}
		if out.Codes, err = ensureRecoveryCodes(tx, userID); err != nil {
			return err
		}
		if out.Session, out.Raised, err = raiseSession(tx, ctx, u, s, a.policy.lifetimes(), AuthPasswordTOTP); err != nil {
			return err
		}
		return factorChanged(tx, ctx, u, nil, "added", models.CodedDetail(models.DetailAuthenticatorApp), factorWordsTOTP, "")
	})
	if errors.Is(err, ErrTOTPExists) || models.IsUniqueViolation(err) {
		return FactorAdded{}, ErrTOTPExists
	}
	if err != nil {
		return FactorAdded{}, err
	}
	return out, nil
}

// DeactivateTOTP removes userID's authenticator app. When no factor is
// left the recovery codes go too (they would recover nothing).
func (a *Accounts) DeactivateTOTP(ctx context.Context, userID uint) error {
	return a.transaction(ctx, "deactivate totp", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		res := tx.Where("user_id = ? AND kind = ?", userID, models.FactorTOTP).Delete(&models.Authenticator{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound
		}
		if err := dropOrphanRecovery(tx, userID); err != nil {
			return err
		}
		return factorChanged(tx, ctx, u, nil, "removed", models.CodedDetail(models.DetailAuthenticatorApp), factorWordsTOTP, "")
	})
}

// dropOrphanRecovery deletes the recovery codes of a user left without a
// factor.
func dropOrphanRecovery(tx *gorm.DB, userID uint) error {
	has, err := hasSecondFactor(tx, userID)
	if err != nil || has {
		return err
	}
	return tx.Where("user_id = ? AND kind = ?", userID, models.FactorRecovery).Delete(&models.Authenticator{}).Error
}

// factorChanged records a factor added or removed and mails the owner.
// actorID is the staff member who did it (nil: the user).
//
// The mail's payload carries the change in words (what, for the event and
// old readers) and as codes (factor: totp, passkey or all; name: the
// passkey's name), from which the mail is written in the recipient's
// language.
func factorChanged(tx *gorm.DB, ctx context.Context, u *models.User, actorID *uint, verb, what, factor, name string) error {
	kind := models.EventFactorAdded
	if verb != "added" {
		kind = models.EventFactorRemoved
	}
	if err := models.RecordEvent(tx, ctx, models.UserEvent(kind, u, actorID, what)); err != nil {
		return err
	}
	return notifyMFA(tx, u, verb, what, factor, name, actorID != nil)
}

// The factors a notice of a change names (the payload's factor).
const (
	factorWordsTOTP    = "totp"
	factorWordsPasskey = "passkey"
	factorWordsAll     = "all"
)

func notifyMFA(tx *gorm.DB, u *models.User, verb, what, factor, name string, byStaff bool) error {
	if u.Email == "" {
		return nil
	}
	by := "you"
	if byStaff {
		by = "staff"
	}
	return models.Enqueue(tx, models.KindMFAChanged, &u.ID, u.Email, map[string]string{
		"username": u.Username, "change": verb, "what": what, "factor": factor, "name": name, "by": by,
		"when": time.Now().UTC().Format(time.RFC3339),
	})
}

// newRecoveryCode returns a code of 50 random bits as xxxxx-xxxxx (base32,
// lower case, no padding).
func newRecoveryCode() string {
	b, _ := secret.Random(7)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:10]
	return s[:5] + "-" + s[5:]
}

func hashRecoveryCode(normalized string) string {
	return secret.HashIn("gatehouse-recovery:", normalized)
}

// replaceRecoveryCodes deletes userID's recovery codes and stores a new
// set, returning the codes (their hashes only are kept).
func replaceRecoveryCodes(tx *gorm.DB, userID uint) ([]string, error) {
	if err := tx.Where("user_id = ? AND kind = ?", userID, models.FactorRecovery).Delete(&models.Authenticator{}).Error; err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	codes := make([]string, RecoveryCodeCount)
	rows := make([]models.Authenticator, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = models.Authenticator{UserID: userID, Kind: models.FactorRecovery, CodeHash: hashRecoveryCode(NormalizeCode(codes[i])), CreatedAt: now}
	}
	return codes, tx.Create(&rows).Error
}

// ensureRecoveryCodes makes a set when userID has no unused code left.
func ensureRecoveryCodes(tx *gorm.DB, userID uint) ([]string, error) {
	var n int64
	if err := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ? AND used_at IS NULL", userID, models.FactorRecovery).Count(&n).Error; err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, nil
	}
	return replaceRecoveryCodes(tx, userID)
}

// RegenerateRecoveryCodes replaces userID's recovery codes with a new set
// (the old ones stop working at once) and returns it to show once.
func (a *Accounts) RegenerateRecoveryCodes(ctx context.Context, userID uint) ([]string, error) {
	var codes []string
	err := a.transaction(ctx, "regenerate recovery codes", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		has, err := hasSecondFactor(tx, userID)
		if err != nil {
			return err
		}
		if !has {
			return ErrNoSecondFactor
		}
		if codes, err = replaceRecoveryCodes(tx, userID); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventRecoveryCodesNew, u, nil, ""))
	})
	if errors.Is(err, ErrNoSecondFactor) {
		return nil, ErrNoSecondFactor
	}
	return codes, err
}

// useTOTP accepts code for userID's authenticator app inside tx: the step
// is claimed by a conditional UPDATE, so of two requests with one code only
// one succeeds, and no code of that step or earlier works again.
// useCode spends code as the user's second factor inside tx: a TOTP code
// (once per step) or, failing that, a recovery code (once). It returns the
// sign-in method the code stands for and, after a recovery code, how many
// are left; ErrWrongCode when it is neither.
func (a *Accounts) useCode(tx *gorm.DB, userID uint, code string) (method string, recoveryLeft int64, err error) {
	ok, err := a.useTOTP(tx, userID, code)
	if err != nil || ok {
		return AuthPasswordTOTP, 0, err
	}
	ok, left, err := useRecoveryCode(tx, userID, code)
	if err != nil {
		return "", 0, err
	}
	if !ok {
		return "", 0, ErrWrongCode
	}
	return AuthPasswordRecovery, left, nil
}

func (a *Accounts) useTOTP(tx *gorm.DB, userID uint, code string) (bool, error) {
	var row models.Authenticator
	err := tx.Where("user_id = ? AND kind = ?", userID, models.FactorTOTP).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.mfa == nil {
		return false, ErrMFAUnavailable
	}
	secret, err := a.mfa.atRest.Open(row.Secret, userAAD(userID))
	if err != nil {
		return false, fmt.Errorf("authenticator %d: secret does not open (was SECRET_KEY changed?): %w", row.ID, err)
	}
	now := time.Now().UTC()
	step, ok := matchTOTP(string(secret), code, row.LastUsedStep, now)
	if !ok {
		return false, nil
	}
	res := tx.Model(&models.Authenticator{}).Where("id = ? AND last_used_step < ?", row.ID, step).
		Updates(map[string]any{"last_used_step": step, "last_used_at": now})
	return res.RowsAffected == 1, res.Error
}

// useRecoveryCode spends code for userID inside tx (a conditional UPDATE:
// of parallel requests with one code only one succeeds) and returns how
// many unused codes are left.
func useRecoveryCode(tx *gorm.DB, userID uint, code string) (ok bool, left int64, err error) {
	if len(code) != 10 {
		return false, 0, nil
	}
	now := time.Now().UTC()
	res := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ? AND code_hash = ? AND used_at IS NULL",
		userID, models.FactorRecovery, hashRecoveryCode(code)).Updates(map[string]any{"used_at": now, "last_used_at": now})
	if res.Error != nil || res.RowsAffected != 1 {
		return false, 0, res.Error
	}
	err = tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ? AND used_at IS NULL", userID, models.FactorRecovery).Count(&left).Error
	return true, left, err
}

// AdminResetMFA removes every factor and recovery code of targetID, for a
// user who lost them all: staff rights re-read in the transaction, the
// event records who did it, and the user is mailed.
func (a *Accounts) AdminResetMFA(ctx context.Context, actorID, targetID uint) error {
	return a.transaction(ctx, "reset 2fa", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		res := tx.Where("user_id = ?", t.ID).Delete(&models.Authenticator{})
		if res.Error != nil {
			return res.Error
		}
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventMFAReset, t, &actorID, models.CodedDetail(models.DetailAuthenticatorsRemoved, "count", strconv.FormatInt(res.RowsAffected, 10)))); err != nil {
			return err
		}
		return notifyMFA(tx, t, "removed", "Every second factor (authenticator app, passkeys, recovery codes)", factorWordsAll, "", true)
	})
}
