package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/secret"
	"gatehouse/internal/upstream"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

// Sign-in through other providers (django-allauth's socialaccount).
//
//  1. BeginUpstream: the button's POST. A state S and a browser binding B
//     are drawn; the flow row is keyed by hash(S) and holds hash(B) (B goes
//     to the browser as a cookie); the nonce and the PKCE verifier are
//     derived from S and B, so nothing secret is stored. The browser goes
//     to the provider with state S, the nonce and the S256 challenge.
//  2. UpstreamCallback: the provider sends the browser back with S and a
//     code. The flow is consumed first (a conditional DELETE of the row
//     keyed by hash(S) with hash(B) from this browser's cookie, unexpired):
//     a replayed, forged, expired or other-browser callback finds nothing
//     and nothing else happens. Then the code is exchanged (with the
//     verifier) and the ID token verified (upstream.Provider.Exchange).
//  3. In one transaction the identity is resolved:
//     - known (provider, subject): that account signs in through the same
//     finishSignIn as a password, or gets a pending session when it has
//     a second factor;
//     - connect: it is attached to the signed-in account that started it;
//     - unknown, and its address belongs to an account: NOT attached
//     (account takeover by e-mail) unless SOCIAL_EMAIL_AUTHENTICATION is on
//     and both sides have the address verified; otherwise the person
//     must sign in to that account and connect from /accounts/3rdparty/;
//     - unknown and new: the claims wait (stage "signup") for the short
//     sign-up form, UpstreamSignup.

// Purposes of a flow.
const (
	PurposeLogin   = "login"
	PurposeConnect = "connect"
	// PurposeReauth confirms the signed-in UserID ("sudo mode").
	PurposeReauth = "reauth"
)

// FlowLifetime is how long a started sign-in may take at the provider;
// SignupFlowLifetime how long the short sign-up form waits.
const (
	FlowLifetime       = 10 * time.Minute
	SignupFlowLifetime = 30 * time.Minute
)

// Errors of the upstream flows.
var (
	// ErrUpstreamState: the callback matches no flow this browser started
	// (wrong, replayed or expired state; another browser's).
	ErrUpstreamState = errors.New("this sign-in was not started here or has expired")
	// ErrUpstreamDenied: the provider said no (denied consent, …).
	ErrUpstreamDenied = errors.New("the provider did not sign you in")
	// ErrUpstreamEmailInUse: the identity's address belongs to an account
	// it is not connected to; the person must sign in to it first.
	ErrUpstreamEmailInUse = errors.New("an account already uses this address")
	// ErrIdentityTaken: the identity is connected to another account.
	ErrIdentityTaken = errors.New("this identity is connected to another account")
	// ErrIdentityNotYours: a confirmation through a provider came back
	// with an identity not connected to the signed-in account.
	ErrIdentityNotYours = errors.New("this identity is not connected to your account")
	// ErrLastWayIn: disconnecting would leave no way to sign in.
	ErrLastWayIn = errors.New("this is the account's last way to sign in")
)

// flowRequest derives the nonce and PKCE verifier of the flow with state
// s from s and the browser binding b: neither is stored, and neither can
// be computed from what the provider or a log sees (s) without the
// browser's cookie (b).
func flowRequest(s, b string) upstream.Request {
	return upstream.Request{State: s,
		Nonce:    secret.HashIn("gatehouse upstream nonce:"+b+":", s),
		Verifier: secret.HashIn("gatehouse upstream pkce:"+b+":", s)}
}

func flowID(s string) string      { return secret.HashIn("upstream-state:", s) }
func bindingHash(b string) string { return secret.HashIn("upstream-binding:", b) }

// BeginInput starts a sign-in (or a connection) through Provider.
type BeginInput struct {
	Provider    *upstream.Provider
	RedirectURL string
	Purpose     string
	// UserID is the signed-in account a connection is for.
	UserID *uint
	// IP is the client's address, for the limit.
	IP string
	// Next is where to go afterwards (checked by the handler: a local
	// path, or a protected app's URL within SESSION_COOKIE_DOMAIN; at most
	// 1024 bytes, the column's size).
	Next string
}

// BeginResult is where to send the browser and the binding to set as its
// cookie.
type BeginResult struct {
	URL, Binding string
}

// BeginUpstream records a new flow and returns the provider's URL. The
// attempt is taken against the per-address limit first; the provider's
// discovery comes next, so a provider that is down stores nothing.
func (a *Accounts) BeginUpstream(ctx context.Context, in BeginInput) (*BeginResult, error) {
	// Taken first, in its own write, so a parallel burst cannot all store
	// flows or reach the provider: over it, a *ThrottledError.
	if _, err := a.take(ctx, "", nil, models.NewRule(ScopeUpstreamIP, a.policy.UpstreamPerIP, models.ThrottleIP(in.IP))); err != nil {
		return nil, err
	}
	s, err := secret.New()
	if err != nil {
		return nil, err
	}
	b, err := secret.New()
	if err != nil {
		return nil, err
	}
	u, err := in.Provider.AuthCodeURL(ctx, in.RedirectURL, flowRequest(s, b))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	row := models.SocialFlow{ID: flowID(s), Binding: bindingHash(b), Provider: in.Provider.Config.ID, Purpose: in.Purpose,
		UserID: in.UserID, Next: in.Next, Stage: models.FlowStageAuth, CreatedAt: now, ExpiresAt: now.Add(FlowLifetime)}
	if err := a.db.WithContext(ctx).Create(&row).Error; err != nil {
		return nil, models.DBError("begin upstream sign-in", err)
	}
	return &BeginResult{URL: u, Binding: b}, nil
}

// CallbackInput is the provider's answer as the browser brought it.
type CallbackInput struct {
	Provider    *upstream.Provider
	RedirectURL string
	State, Code string
	// Error is the provider's error parameter (access_denied, …).
	Error string
	// Binding is the browser's flow cookie.
	Binding string
	// SessionID and CurrentUserID are the browser's session and who is
	// signed in (nil: nobody); Device its device cookie.
	SessionID     string
	CurrentUserID *uint
	Device        string
}

// Outcomes of a callback.
const (
	UpstreamSignedIn  = "signed_in"
	UpstreamPending   = "pending" // a second factor is due
	UpstreamConnected = "connected"
	UpstreamSignup    = "signup" // the short sign-up form is next
	// UpstreamReauthenticated: the signed-in user confirmed it is them.
	UpstreamReauthenticated = "reauthenticated"
)

// CallbackResult is what a callback came to.
type CallbackResult struct {
	Outcome string
	Login   LoginResult
	Next    string
	Purpose string
}

// consumeFlow deletes the flow (provider, state s, binding b, stage
// "auth", unexpired) and returns it; any mismatch is ErrUpstreamState. The
// conditional delete makes a callback single use under any race.
func (a *Accounts) consumeFlow(ctx context.Context, provider, s, b string) (*models.SocialFlow, error) {
	if !secret.Valid(s) || !secret.Valid(b) {
		return nil, ErrUpstreamState
	}
	var row models.SocialFlow
	err := a.transaction(ctx, "consume upstream flow", func(tx *gorm.DB) error {
		q := tx.Where("id = ? AND binding = ? AND provider = ? AND stage = ? AND expires_at > ?",
			flowID(s), bindingHash(b), provider, models.FlowStageAuth, time.Now().UTC())
		if err := q.Take(&row).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrUpstreamState
		} else if err != nil {
			return err
		}
		res := tx.Where("id = ? AND stage = ?", row.ID, models.FlowStageAuth).Delete(&models.SocialFlow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrUpstreamState
		}
		return nil
	})
	if errors.Is(err, ErrUpstreamState) || err == nil {
		return &row, err
	}
	return nil, err
}

// UpstreamCallback finishes a flow (see the top of this file).
func (a *Accounts) UpstreamCallback(ctx context.Context, in CallbackInput) (*CallbackResult, error) {
	p := in.Provider
	flow, err := a.consumeFlow(ctx, p.Config.ID, in.State, in.Binding)
	if err != nil {
		return nil, err
	}
	out := &CallbackResult{Next: flow.Next, Purpose: flow.Purpose}
	if in.Error != "" || in.Code == "" {
		return out, ErrUpstreamDenied
	}
	if len(in.Code) > 2048 {
		return out, upstream.ErrRejected
	}
	cl, err := p.Exchange(ctx, in.RedirectURL, in.Code, flowRequest(in.State, in.Binding))
	if err != nil {
		return out, err
	}
	if flow.Purpose == PurposeConnect {
		if flow.UserID == nil || in.CurrentUserID == nil || *flow.UserID != *in.CurrentUserID {
			return out, ErrUpstreamState // signed out (or in as someone else) meanwhile
		}
		return out, a.connect(ctx, p, *flow.UserID, cl)
	}
	if flow.Purpose == PurposeReauth {
		if flow.UserID == nil || in.CurrentUserID == nil || *flow.UserID != *in.CurrentUserID {
			return out, ErrUpstreamState
		}
		return out, a.upstreamReauth(ctx, p, *flow.UserID, in.SessionID, cl, out)
	}
	return out, a.upstreamLogin(ctx, p, in, cl, flow, out)
}

// connect attaches cl to userID in one transaction.
func (a *Accounts) connect(ctx context.Context, p *upstream.Provider, userID uint, cl upstream.Claims) error {
	return a.transaction(ctx, "connect identity", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		var id models.SocialIdentity
		err = tx.Where("provider = ? AND subject = ?", p.Config.ID, cl.Subject).Take(&id).Error
		switch {
		case err == nil && id.UserID == u.ID:
			return nil // connected already
		case err == nil:
			return ErrIdentityTaken
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		return a.attach(tx, ctx, p, u, cl)
	})
}

// upstreamReauth sets the session's confirmation after a new sign-in at
// p, when that identity is connected to userID — one transaction with the
// event; another identity is ErrIdentityTaken and changes nothing.
func (a *Accounts) upstreamReauth(ctx context.Context, p *upstream.Provider, userID uint, sessionID string, cl upstream.Claims, out *CallbackResult) error {
	return a.transaction(ctx, "upstream re-authentication", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		res := tx.Model(&models.SocialIdentity{}).Where("provider = ? AND subject = ? AND user_id = ?", p.Config.ID, cl.Subject, u.ID).
			Update("last_used_at", time.Now().UTC())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrIdentityNotYours
		}
		ns, err := sudoSession(tx, ctx, u, sessionID, a.policy.lifetimes(), p.Method())
		if err != nil {
			return err
		}
		out.Outcome, out.Login = UpstreamReauthenticated, LoginResult{User: u, Session: ns}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventReauthenticated, u, nil, models.CodedDetail(models.DetailViaProvider, "provider", p.Config.Name, "method", p.Method())))
	})
}

// attach inserts the identity and records the event.
func (a *Accounts) attach(tx *gorm.DB, ctx context.Context, p *upstream.Provider, u *models.User, cl upstream.Claims) error {
	now := time.Now().UTC()
	id := models.SocialIdentity{UserID: u.ID, Provider: p.Config.ID, Subject: cl.Subject, Email: cl.Email, CreatedAt: now, LastUsedAt: now}
	if err := tx.Create(&id).Error; err != nil {
		if models.IsUniqueViolation(err) {
			return ErrIdentityTaken
		}
		return err
	}
	if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventSocialConnected, u, nil, p.Config.Name+" ("+p.Method()+")")); err != nil {
		return err
	}
	return socialChanged(tx, ctx, u, "connected", p.Config.Name)
}

// socialChanged queues the owner's notice of a connected or disconnected
// provider, inside the change's transaction: a connection is a new way
// into the account, worth a mail like a new password.
func socialChanged(tx *gorm.DB, ctx context.Context, u *models.User, change, provider string) error {
	if u.Email == "" {
		return nil
	}
	return models.Enqueue(tx, models.KindSocialChanged, &u.ID, u.Email, map[string]string{
		"username": u.Username, "change": change, "provider": provider,
		"when": time.Now().UTC().Format(time.RFC3339), "ip": models.ClientInfoOf(ctx).IP,
	})
}

// upstreamLogin is the login purpose's third step.
func (a *Accounts) upstreamLogin(ctx context.Context, p *upstream.Provider, in CallbackInput, cl upstream.Claims, flow *models.SocialFlow, out *CallbackResult) error {
	// Which account, if any: read first (the second factor is asked
	// outside the transaction, as Login does), re-read locked below.
	var known models.SocialIdentity
	err := a.db.WithContext(ctx).Where("provider = ? AND subject = ?", p.Config.ID, cl.Subject).Take(&known).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.DBError("find identity", err)
	}
	var owner *models.User
	if err == nil {
		owner = &models.User{SessionUser: models.SessionUser{ID: known.UserID}}
	} else if cl.Email != "" {
		// The address of an account: never attached on its own say-so.
		var u models.User
		err := a.db.WithContext(ctx).Where("email_key = ?", validate.EmailKey(validate.NormalizeEmail(cl.Email))).Take(&u).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
		case err != nil:
			return models.DBError("find address", err)
		case a.policy.SocialEmailAuthentication && cl.EmailVerified && u.EmailVerified && u.IsActive:
			owner = &u
		default:
			return a.refuse(ctx, p, &u, cl)
		}
	}
	if owner == nil {
		return a.awaitSignup(ctx, p, in, cl, flow, out)
	}
	has, err := a.HasSecondFactor(ctx, owner.ID)
	if err != nil {
		return err
	}
	method := p.Method()
	return a.transaction(ctx, "upstream login", func(tx *gorm.DB) error {
		u, err := lockUser(tx, owner.ID)
		if errors.Is(err, models.ErrNotFound) {
			return ErrUpstreamState // deleted meanwhile
		}
		if err != nil {
			return err
		}
		var id models.SocialIdentity
		err = tx.Where("provider = ? AND subject = ?", p.Config.ID, cl.Subject).Take(&id).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			// Connected by verified address (SOCIAL_EMAIL_AUTHENTICATION),
			// checked again on the locked row.
			if !(a.policy.SocialEmailAuthentication && cl.EmailVerified && u.EmailVerified &&
				validate.EmailKey(validate.NormalizeEmail(cl.Email)) == u.EmailKey) {
				return ErrUpstreamState
			}
			if err := a.attach(tx, ctx, p, u, cl); err != nil {
				return err
			}
		case err != nil:
			return err
		case id.UserID != u.ID:
			return ErrUpstreamState
		default:
			if err := tx.Model(&id).Update("last_used_at", time.Now().UTC()).Error; err != nil {
				return err
			}
		}
		detail := models.CodedDetail(models.DetailViaProvider, "provider", p.Config.Name, "method", method)
		if has {
			if err := a.mayEnter(u); err != nil {
				return err
			}
			ns, err := a.pendingSession(tx, ctx, in.SessionID, u, false, method, detail)
			out.Outcome, out.Login = UpstreamPending, LoginResult{User: u, Session: ns, Pending: true}
			return err
		}
		ns, err := a.finishSignIn(tx, ctx, signInStep{sessionID: in.SessionID, user: u, method: method, device: in.Device,
			detail: detail, via: p.Config.Name})
		out.Outcome, out.Login = UpstreamSignedIn, LoginResult{User: u, Session: ns}
		return err
	})
}

// refuse records, on the account whose address the identity carries, that
// it was not connected, and returns ErrUpstreamEmailInUse.
func (a *Accounts) refuse(ctx context.Context, p *upstream.Provider, u *models.User, cl upstream.Claims) error {
	code := models.DetailSocialRefusedUnverified
	if cl.EmailVerified {
		code = models.DetailSocialRefusedVerified
	}
	detail := models.CodedDetail(code, "provider", p.Config.Name, "method", p.Method())
	err := a.transaction(ctx, "refuse identity", func(tx *gorm.DB) error {
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSocialRefused, u, nil, detail))
	})
	if err != nil {
		return err
	}
	return ErrUpstreamEmailInUse
}

// awaitSignup keeps the claims for the short sign-up form, under the same
// state and binding.
func (a *Accounts) awaitSignup(ctx context.Context, p *upstream.Provider, in CallbackInput, cl upstream.Claims, flow *models.SocialFlow, out *CallbackResult) error {
	now := time.Now().UTC()
	row := models.SocialFlow{ID: flowID(in.State), Binding: bindingHash(in.Binding), Provider: p.Config.ID, Purpose: PurposeLogin,
		Next: flow.Next, Stage: models.FlowStageSignup, Subject: cl.Subject, Email: cl.Email, EmailVerified: cl.EmailVerified,
		Username: suggestUsername(cl), CreatedAt: now, ExpiresAt: now.Add(SignupFlowLifetime)}
	err := a.transaction(ctx, "await upstream sign-up", func(tx *gorm.DB) error {
		// One form per browser: an earlier unfinished one is dropped.
		if err := tx.Where("binding = ? AND stage = ?", row.Binding, models.FlowStageSignup).Delete(&models.SocialFlow{}).Error; err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	out.Outcome = UpstreamSignup
	return err
}

// suggestUsername proposes a username from the claims: the provider's
// username, else the address's local part, cut to the rules' length.
func suggestUsername(cl upstream.Claims) string {
	s := cl.Username
	if s == "" {
		s, _, _ = strings.Cut(cl.Email, "@")
	}
	s = validate.NormalizeUsername(s)
	if validate.CleanText(s) != "" {
		return ""
	}
	if r := []rune(s); len(r) > validate.UsernameMaxLen {
		s = string(r[:validate.UsernameMaxLen])
	}
	return s
}

// PendingSignup is the identity waiting for the short sign-up form.
type PendingSignup struct {
	Provider      string
	Email         string
	EmailVerified bool
	Username      string
}

// pendingSignupRow reads the browser's stage-"signup" flow.
func pendingSignupRow(tx *gorm.DB, binding string) (*models.SocialFlow, error) {
	if !secret.Valid(binding) {
		return nil, ErrUpstreamState
	}
	var row models.SocialFlow
	err := tx.Where("binding = ? AND stage = ? AND expires_at > ?", bindingHash(binding), models.FlowStageSignup, time.Now().UTC()).
		Order("created_at DESC").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUpstreamState
	}
	return &row, err
}

// UpstreamPendingSignup returns what the sign-up form is prefilled with.
func (a *Accounts) UpstreamPendingSignup(ctx context.Context, binding string) (*PendingSignup, error) {
	row, err := pendingSignupRow(a.db.WithContext(ctx), binding)
	if err != nil {
		if errors.Is(err, ErrUpstreamState) {
			return nil, err
		}
		return nil, models.DBError("read upstream sign-up", err)
	}
	return &PendingSignup{Provider: row.Provider, Email: row.Email, EmailVerified: row.EmailVerified, Username: row.Username}, nil
}

// UpstreamSignupInput is the short sign-up form.
type UpstreamSignupInput struct {
	Provider        *upstream.Provider
	Binding         string
	Username, Email string
	IP, SessionID   string
	Device          string
}

// UpstreamSignup creates the account of a new person who came through a
// provider: the same username rules, look-alike and uniqueness checks as
// Signup (PrepareUser, the unique indexes), no password (Django's unusable
// "!…"), the identity attached, the waiting flow deleted — one
// transaction. The address is verified only when it is the provider's and
// the provider vouched for it; another address goes through the usual
// confirmation.
func (a *Accounts) UpstreamSignup(ctx context.Context, in UpstreamSignupInput) (*LoginResult, error) {
	if _, err := a.take(ctx, models.EventSignupThrottled, nil, models.NewRule(ScopeSignupIP, a.policy.SignupPerIP, models.ThrottleIP(in.IP))); err != nil {
		return nil, err
	}
	unusable, err := secret.New()
	if err != nil {
		return nil, err
	}
	// PrepareUser validates as sign-up does; its password is a throwaway
	// that passes the rules, replaced below by the unusable marker.
	user, err := models.PrepareUser(ctx, a.hasher, models.NewUser{Username: in.Username, Email: in.Email, Password: unusable, SkipPasswordValidation: true})
	if err != nil {
		return nil, err
	}
	user.Password = "!" + unusable // Django's make_password(None): never matches
	p := in.Provider
	var out LoginResult
	err = a.transaction(ctx, "upstream sign up", func(tx *gorm.DB) error {
		row, err := pendingSignupRow(tx, in.Binding)
		if err != nil {
			return err
		}
		if row.Provider != p.Config.ID {
			return ErrUpstreamState
		}
		res := tx.Where("id = ? AND stage = ?", row.ID, models.FlowStageSignup).Delete(&models.SocialFlow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrUpstreamState // the same form sent twice at once
		}
		user.EmailVerified = a.policy.verification() == VerifyNone ||
			(row.EmailVerified && user.EmailKey != "" && user.EmailKey == validate.EmailKey(validate.NormalizeEmail(row.Email)))
		if err := tx.Create(user).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		id := models.SocialIdentity{UserID: user.ID, Provider: p.Config.ID, Subject: row.Subject, Email: row.Email, CreatedAt: now, LastUsedAt: now}
		if err := tx.Create(&id).Error; err != nil {
			if models.IsUniqueViolation(err) {
				return ErrIdentityTaken
			}
			return err
		}
		detail := models.CodedDetail(models.DetailThroughProvider, "provider", p.Config.Name, "method", p.Method())
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventSocialConnected, user, nil, p.Config.Name+" ("+p.Method()+")")); err != nil {
			return err
		}
		if !user.EmailVerified {
			if mandatory, err := a.signupVerification(tx, ctx, user, row.Next); err != nil || mandatory {
				out = LoginResult{User: user, Next: row.Next}
				return err
			}
		}
		ns, err := models.SignIn(tx, ctx, in.SessionID, user, p.Method(), false, a.policy.lifetimes())
		if err != nil {
			return err
		}
		out = LoginResult{User: user, Session: ns, Next: row.Next}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSignup, user, nil, detail))
	})
	if err != nil {
		if errors.Is(err, ErrUpstreamState) || errors.Is(err, ErrIdentityTaken) {
			return nil, err
		}
		return nil, a.duplicate(ctx, user.Username, err)
	}
	return &out, nil
}

// Identities lists userID's connected identities.
func (a *Accounts) Identities(ctx context.Context, userID uint) ([]models.SocialIdentity, error) {
	return models.ListSocialIdentities(ctx, a.db, userID)
}

// HasUsablePassword reports whether a stored hash can ever match (Django's
// has_usable_password): not empty, not "!…".
func HasUsablePassword(hash string) bool {
	return hash != "" && !strings.HasPrefix(hash, "!")
}

// DisconnectIdentity removes identity identityID from userID. The account
// must keep a way in — a usable password, another identity or a passkey —
// checked on the locked user row in the transaction that deletes, so two
// disconnects at once cannot both pass the check. nameOf gives a provider
// ID's display name for the event and the owner's notice (nil, or "" for
// a provider no longer configured: the ID is used).
func (a *Accounts) DisconnectIdentity(ctx context.Context, userID, identityID uint, nameOf func(providerID string) string) error {
	return a.transaction(ctx, "disconnect identity", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		var id models.SocialIdentity
		if err := tx.Where("id = ? AND user_id = ?", identityID, userID).Take(&id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return models.ErrNotFound
		} else if err != nil {
			return err
		}
		if !HasUsablePassword(u.Password) {
			var others, passkeys int64
			if err := tx.Model(&models.SocialIdentity{}).Where("user_id = ? AND id <> ?", userID, identityID).Count(&others).Error; err != nil {
				return err
			}
			if err := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ?", userID, models.FactorPasskey).Count(&passkeys).Error; err != nil {
				return err
			}
			if others+passkeys == 0 {
				return ErrLastWayIn
			}
		}
		res := tx.Where("id = ? AND user_id = ?", identityID, userID).Delete(&models.SocialIdentity{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return models.ErrNotFound
		}
		name := id.Provider
		if nameOf != nil {
			name = or(nameOf(id.Provider), id.Provider)
		}
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventSocialDisconnected, u, nil, name)); err != nil {
			return err
		}
		return socialChanged(tx, ctx, u, "disconnected", name)
	})
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
