package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"

	"gatehouse/internal/secret"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

// Passkeys (WebAuthn) with go-webauthn. The relying party is BASE_URL's
// host; its origin is BASE_URL's scheme://host[:port].
//
// Ceremony state (the challenge and what go-webauthn checks against) is
// sealed with a key derived from SECRET_KEY and carried by the page that
// runs the ceremony: it is bound to its purpose, to the user and to the
// browser's session row where there is one, and lapses after
// ceremonyValidFor. So a visitor who is not signed in gets no session row
// for opening the login page. A sign-in assertion works once: its
// challenge's hash is stored as a used one-time token in the transaction
// that signs in, and a replay fails on the unique index.

// ceremonyValidFor bounds a ceremony (WebAuthn's default timeout is 5 min).
const ceremonyValidFor = 5 * time.Minute

// Ceremony purposes.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	ceremonySecond   = "second"
	ceremonyReauth   = "reauth"
	purposeAssertion = "webauthn_assertion"
)

// ErrPasskeyFailed is a passkey ceremony that did not verify (wrong,
// expired, replayed, unknown credential).
var ErrPasskeyFailed = errors.New("the passkey could not be verified")

// ErrTooManyPasskeys: the account has MAX_PASSKEYS passkeys already.
var ErrTooManyPasskeys = errors.New("this account has as many passkeys as it may have; remove one first")

// DefaultMaxPasskeys bounds the passkeys of one account (MAX_PASSKEYS).
const DefaultMaxPasskeys = 10

type passkeyConfig struct{ wa *webauthn.WebAuthn }

func newPasskeyConfig(baseURL string) *passkeyConfig {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: "Gatehouse", RPOrigins: []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		return nil
	}
	return &passkeyConfig{wa: wa}
}

// PasskeysAvailable reports whether passkeys can be used (SECRET_KEY and a
// usable BASE_URL).
func (a *Accounts) PasskeysAvailable() bool { return a.mfa != nil && a.passkeys != nil }

// waUser is a user as go-webauthn sees it. The user handle is an HMAC of
// the user's ID under a key derived from SECRET_KEY: stable, opaque, not
// personal data.
type waUser struct {
	u     *models.SessionUser
	id    []byte
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return w.id }
func (w *waUser) WebAuthnName() string                       { return w.u.Username }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Username }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (a *Accounts) userHandle(id uint) []byte {
	m := hmac.New(sha256.New, a.mfa.userHandle)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(id)))
	return m.Sum(nil)
}

// loadWAUser returns u with its passkeys (and their rows by credential ID).
func (a *Accounts) loadWAUser(tx *gorm.DB, u *models.SessionUser) (*waUser, map[string]*models.Authenticator, error) {
	var rows []models.Authenticator
	if err := tx.Where("user_id = ? AND kind = ?", u.ID, models.FactorPasskey).Find(&rows).Error; err != nil {
		return nil, nil, err
	}
	w := &waUser{u: u, id: a.userHandle(u.ID)}
	byID := map[string]*models.Authenticator{}
	for i := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(rows[i].Credential), &c); err != nil {
			continue
		}
		w.creds = append(w.creds, c)
		byID[rows[i].CredentialID] = &rows[i]
	}
	return w, byID, nil
}

// ceremonyState is what a sealed ceremony carries.
type ceremonyState struct {
	Purpose string               `json:"p"`
	UserID  uint                 `json:"u,omitempty"`
	Session string               `json:"s,omitempty"`
	Expires int64                `json:"e"`
	Data    webauthn.SessionData `json:"d"`
}

func (a *Accounts) sealCeremony(st ceremonyState) (string, error) {
	st.Expires = time.Now().Add(ceremonyValidFor).Unix()
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return a.mfa.ceremony.Seal(b, []byte(st.Purpose)), nil
}

// openCeremony opens a sealed ceremony of purpose for userID (0: any) and
// session sessionID ("" when not bound).
func (a *Accounts) openCeremony(sealed, purpose string, userID uint, sessionID string) (*ceremonyState, error) {
	if !a.PasskeysAvailable() {
		return nil, ErrMFAUnavailable
	}
	b, err := a.mfa.ceremony.Open(sealed, []byte(purpose))
	if err != nil {
		return nil, ErrPasskeyFailed
	}
	var st ceremonyState
	if json.Unmarshal(b, &st) != nil || st.Purpose != purpose || time.Now().Unix() > st.Expires ||
		st.UserID != userID || st.Session != sessionID {
		return nil, ErrPasskeyFailed
	}
	return &st, nil
}

// Ceremony is a passkey ceremony to run in the browser: Options is the
// JSON for navigator.credentials (PublicKeyCredential.parse…FromJSON), State
// the sealed state to post back with its result.
type Ceremony struct {
	Options json.RawMessage
	State   string
}

// BeginPasskeyRegistration starts adding a passkey for user from the
// session sessionID: a discoverable credential with user verification,
// excluding the passkeys the user has.
func (a *Accounts) BeginPasskeyRegistration(ctx context.Context, user *models.SessionUser, sessionID string) (Ceremony, error) {
	if !a.PasskeysAvailable() {
		return Ceremony{}, ErrMFAUnavailable
	}
	w, _, err := a.loadWAUser(a.db.WithContext(ctx), user)
	if err != nil {
		return Ceremony{}, models.DBError("load passkeys", err)
	}
	var excl []protocol.CredentialDescriptor
	for _, c := range w.creds {
		excl = append(excl, c.Descriptor())
	}
	opts, sd, err := a.passkeys.wa.BeginRegistration(w,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(excl))
	if err != nil {
		return Ceremony{}, err
	}
	return a.ceremony(opts.Response, ceremonyState{Purpose: ceremonyRegister, UserID: user.ID, Session: sessionID, Data: *sd})
}

func (a *Accounts) ceremony(options any, st ceremonyState) (Ceremony, error) {
	b, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, err
	}
	sealed, err := a.sealCeremony(st)
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Options: b, State: sealed}, nil
}

// PasskeyNameMaxLen bounds a passkey's name.
const PasskeyNameMaxLen = 64

// FinishPasskeyRegistration verifies the browser's response (JSON of
// PublicKeyCredential.toJSON()) and stores the passkey named name, in one
// transaction with its event and notice; a first factor also gets a set of
// recovery codes, returned to show once. The session s (which the
// ceremony is bound to) becomes a two-factor one, as after ActivateTOTP.
func (a *Accounts) FinishPasskeyRegistration(ctx context.Context, user *models.SessionUser, s FactorSession, state, name string, response []byte) (FactorAdded, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > PasskeyNameMaxLen || validate.CleanText(name) != "" {
		return FactorAdded{}, &models.ValidationError{Fields: map[string][]string{"name": {"Give the passkey a name of at most 64 characters, such as \u201cLaptop\u201d."}}}
	}
	st, err := a.openCeremony(state, ceremonyRegister, user.ID, s.ID)
	if err != nil {
		return FactorAdded{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return FactorAdded{}, ErrPasskeyFailed
	}
	var out FactorAdded
	err = a.transaction(ctx, "add passkey", func(tx *gorm.DB) error {
		u, err := lockUser(tx, user.ID)
		if err != nil {
			return err
		}
		if err := FactorsAllowed(&u.SessionUser); err != nil {
			return err
		}
		// The cap is checked under the user's row lock, so a burst of adds
		// cannot pass it together.
		var n int64
		if err := tx.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ?", u.ID, models.FactorPasskey).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(a.maxPasskeys()) {
			return ErrTooManyPasskeys
		}
		w, _, err := a.loadWAUser(tx, &u.SessionUser)
		if err != nil {
			return err
		}
		cred, err := a.passkeys.wa.CreateCredential(w, st.Data, parsed)
		if err != nil {
			return ErrPasskeyFailed
		}
		// Store what verifying later sign-ins needs (ID, public key,
		// flags, counter, AAGUID), not the attestation as the client sent
		// it: its client data and object can be padded to any size.
		cred.Attestation = webauthn.CredentialAttestation{}
		b, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		if err := tx.Create(&models.Authenticator{UserID: u.ID, Kind: models.FactorPasskey, Name: name,
			CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID), Credential: string(b), CreatedAt: time.Now().UTC()}).Error; err != nil {
			return err
		}
		if out.Codes, err = ensureRecoveryCodes(tx, u.ID); err != nil {
			return err
		}
		if out.Session, out.Raised, err = raiseSession(tx, ctx, u, s, a.policy.lifetimes(), AuthPasswordPasskey); err != nil {
			return err
		}
		return factorChanged(tx, ctx, u, nil, "added", models.CodedDetail(models.DetailPasskeyNamed, "name", name), factorWordsPasskey, name)
	})
	if errors.Is(err, ErrPasskeyFailed) || models.IsUniqueViolation(err) {
		return FactorAdded{}, ErrPasskeyFailed
	}
	if err != nil {
		return FactorAdded{}, err
	}
	return out, nil
}

// RemovePasskey deletes userID's passkey id (recovery codes go with the
// last factor).
func (a *Accounts) RemovePasskey(ctx context.Context, userID, id uint) error {
	return a.transaction(ctx, "remove passkey", func(tx *gorm.DB) error {
		u, err := lockUser(tx, userID)
		if err != nil {
			return err
		}
		var row models.Authenticator
		if err := tx.Where("id = ? AND user_id = ? AND kind = ?", id, userID, models.FactorPasskey).Take(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.ErrNotFound
			}
			return err
		}
		if err := tx.Delete(&models.Authenticator{}, row.ID).Error; err != nil {
			return err
		}
		if err := dropOrphanRecovery(tx, userID); err != nil {
			return err
		}
		return factorChanged(tx, ctx, u, nil, "removed", models.CodedDetail(models.DetailPasskeyNamed, "name", row.Name), factorWordsPasskey, row.Name)
	})
}

// BeginPasskeyLogin starts a sign-in with a discoverable passkey (the
// login page's button and the browser's autofill).
func (a *Accounts) BeginPasskeyLogin() (Ceremony, error) {
	if !a.PasskeysAvailable() {
		return Ceremony{}, ErrMFAUnavailable
	}
	opts, sd, err := a.passkeys.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, err
	}
	return a.ceremony(opts.Response, ceremonyState{Purpose: ceremonyLogin, Data: *sd})
}

// BeginPasskeySecondFactor starts the second login step with one of the
// pending user's passkeys.
func (a *Accounts) BeginPasskeySecondFactor(ctx context.Context, sessionID string) (Ceremony, error) {
	if !a.PasskeysAvailable() {
		return Ceremony{}, ErrMFAUnavailable
	}
	u, err := a.PendingUser(ctx, sessionID)
	if err != nil {
		return Ceremony{}, err
	}
	return a.beginUserPasskey(ctx, &u.SessionUser, sessionID, ceremonySecond, protocol.VerificationPreferred)
}

// beginUserPasskey starts a ceremony with one of u's passkeys, for purpose
// in session sessionID; ErrNotFound when u has none.
func (a *Accounts) beginUserPasskey(ctx context.Context, u *models.SessionUser, sessionID string, purpose string, uv protocol.UserVerificationRequirement) (Ceremony, error) {
	w, _, err := a.loadWAUser(a.db.WithContext(ctx), u)
	if err != nil {
		return Ceremony{}, models.DBError("load passkeys", err)
	}
	if len(w.creds) == 0 {
		return Ceremony{}, models.ErrNotFound
	}
	opts, sd, err := a.passkeys.wa.BeginLogin(w, webauthn.WithUserVerification(uv))
	if err != nil {
		return Ceremony{}, err
	}
	return a.ceremony(opts.Response, ceremonyState{Purpose: purpose, UserID: u.ID, Session: sessionID, Data: *sd})
}

// PasskeyLoginInput is a passkey sign-in's result from the browser.
type PasskeyLoginInput struct {
	SessionID string
	State     string
	Response  []byte
	IP        string
	Remember  bool
	// Device is the browser's device cookie (new-device notice).
	Device string
}

// PasskeyLogin signs in with a discoverable passkey: complete on its own
// (something the user has, unlocked by something they know or are). The
// attempt is taken against the address's login limit; in one transaction
// the credential's user is re-read (active), the assertion verified, the
// sign count and last use stored, the challenge spent (a replay fails), the
// session replaced by a signed-in one and the event recorded.
func (a *Accounts) PasskeyLogin(ctx context.Context, in PasskeyLoginInput) (*LoginResult, error) {
	st, err := a.openCeremony(in.State, ceremonyLogin, 0, "")
	if err != nil {
		return nil, err
	}
	_, perIP := a.loginRules("", in.IP)
	taken, err := a.take(ctx, models.EventLoginThrottled, nil, perIP)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Response)
	if err != nil {
		return nil, ErrPasskeyFailed
	}
	var out LoginResult
	var user *models.User
	err = a.transaction(ctx, "passkey login", func(tx *gorm.DB) error {
		var row *models.Authenticator
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			var r models.Authenticator
			if err := tx.Where("credential_id = ? AND kind = ?", base64.RawURLEncoding.EncodeToString(rawID), models.FactorPasskey).Take(&r).Error; err != nil {
				return nil, ErrPasskeyFailed
			}
			u, err := lockUser(tx, r.UserID)
			if err != nil || !hmac.Equal(userHandle, a.userHandle(u.ID)) {
				return nil, ErrPasskeyFailed
			}
			w, byID, err := a.loadWAUser(tx, &u.SessionUser)
			if err != nil {
				return nil, err
			}
			row, user = byID[r.CredentialID], u
			return w, nil
		}
		cred, err := a.passkeys.wa.ValidateDiscoverableLogin(handler, st.Data, parsed)
		if err != nil || row == nil {
			return ErrPasskeyFailed
		}
		if err := a.passkeyUsed(tx, row, cred, st); err != nil {
			return err
		}
		if err := models.GiveBack(tx, taken, ScopeLoginIP); err != nil {
			return err
		}
		ns, err := a.finishSignIn(tx, ctx, signInStep{sessionID: in.SessionID, user: user, method: AuthPasskey,
			remember: in.Remember, device: in.Device, detail: models.CodedDetail(models.DetailPasskeyNamed, "name", row.Name)})
		if err != nil {
			return err
		}
		out = LoginResult{User: user, Session: ns}
		return nil
	})
	if errors.Is(err, ErrEmailUnverified) && user != nil {
		return nil, a.unverifiedLogin(ctx, user) // as a password login: a new link, within its limit
	}
	if errors.Is(err, models.ErrInvalidCredentials) {
		err = ErrPasskeyFailed
	}
	if errors.Is(err, ErrPasskeyFailed) {
		_ = a.transaction(ctx, "record failed passkey", func(tx *gorm.DB) error {
			return models.RecordEvent(tx, ctx, models.AuthEvent{Kind: models.EventLoginFailed, Detail: models.CodedDetail(models.DetailPasskeyNotVerified)})
		})
		return nil, ErrPasskeyFailed
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// passkeyUsed stores a verified assertion's new sign count and last use
// and spends its challenge inside tx.
func (a *Accounts) passkeyUsed(tx *gorm.DB, row *models.Authenticator, cred *webauthn.Credential, st *ceremonyState) error {
	if cred.Authenticator.CloneWarning {
		return ErrPasskeyFailed
	}
	cred.Attestation = webauthn.CredentialAttestation{} // rows stored before the slimming shrink on use
	b, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := tx.Model(&models.Authenticator{}).Where("id = ?", row.ID).
		Updates(map[string]any{"credential": string(b), "last_used_at": now}).Error; err != nil {
		return err
	}
	err = tx.Create(&models.OneTimeToken{Purpose: purposeAssertion, UserID: row.UserID, TokenHash: secret.HashIn("webauthn-challenge:", st.Data.Challenge),
		ExpiresAt: time.Unix(st.Expires, 0).UTC().Add(time.Minute), UsedAt: &now, CreatedAt: now}).Error
	if models.IsUniqueViolation(err) {
		return ErrPasskeyFailed // replayed
	}
	return err
}

// PasskeySecondFactor completes a pending login with one of the user's
// passkeys, under the same per-account limit as codes.
func (a *Accounts) PasskeySecondFactor(ctx context.Context, sessionID, state string, response []byte, device string) (*SecondFactorResult, error) {
	u, err := a.PendingUser(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	st, err := a.openCeremony(state, ceremonySecond, u.ID, sessionID)
	if err != nil {
		return nil, err
	}
	rule := a.secondFactorRule(u.ID)
	if _, err := a.take(ctx, models.EventSecondFactorThrottle, &u.SessionUser, rule); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, ErrPasskeyFailed
	}
	out := SecondFactorResult{RecoveryLeft: -1}
	err = a.transaction(ctx, "passkey second factor", func(tx *gorm.DB) error {
		pu, pending, err := pendingUser(tx, sessionID)
		if err != nil {
			return err
		}
		if pu.ID != u.ID {
			return ErrSecondFactorExpired
		}
		w, byID, err := a.loadWAUser(tx, &pu.SessionUser)
		if err != nil {
			return err
		}
		cred, err := a.passkeys.wa.ValidateLogin(w, st.Data, parsed)
		if err != nil {
			return ErrPasskeyFailed
		}
		row := byID[base64.RawURLEncoding.EncodeToString(cred.ID)]
		if row == nil {
			return ErrPasskeyFailed
		}
		if err := a.passkeyUsed(tx, row, cred, st); err != nil {
			return err
		}
		return a.completeLogin(tx, ctx, signInStep{sessionID: sessionID, user: pu, method: AuthPasswordPasskey,
			remember: pending.remember, device: device}, pending.first, rule, &out, 0)
	})
	if errors.Is(err, ErrPasskeyFailed) {
		_ = a.transaction(ctx, "record failed passkey", func(tx *gorm.DB) error {
			return models.RecordEvent(tx, ctx, models.UserEvent(models.EventSecondFactorFailed, u, nil, models.CodedDetail(models.DetailWithPasskey)))
		})
		return nil, ErrPasskeyFailed
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BeginPasskeyReauth starts a passkey confirmation ("sudo mode") for the
// signed-in user in session sessionID: one of their passkeys, with user
// verification required, as a passkey sign-in. ErrNotFound when the user
// has no passkey.
func (a *Accounts) BeginPasskeyReauth(ctx context.Context, u *models.SessionUser, sessionID string) (Ceremony, error) {
	if !a.PasskeysAvailable() {
		return Ceremony{}, ErrMFAUnavailable
	}
	return a.beginUserPasskey(ctx, u, sessionID, ceremonyReauth, protocol.VerificationRequired)
}

// PasskeyReauthInput is a passkey confirmation's result from the browser.
type PasskeyReauthInput struct {
	User      *models.SessionUser
	SessionID string
	State     string
	Response  []byte
}

// PasskeyReauthenticate confirms a signed-in user with one of their
// passkeys alone: a user-verified assertion is something they have,
// unlocked by something they know or are, as a passkey sign-in is. The
// ceremony must be this user's and this session's; the attempt is taken
// against the account's second-factor limit (shared with codes) first. In
// one transaction: the user is re-read (active), the assertion verified
// (user verification required), its sign count and use stored and its
// challenge spent (a replay fails), the limit reset, the session moved to
// a new token with reauth_at set and the event recorded. A failure is
// recorded and is ErrPasskeyFailed.
func (a *Accounts) PasskeyReauthenticate(ctx context.Context, in PasskeyReauthInput) (models.NewSession, error) {
	u := in.User
	st, err := a.openCeremony(in.State, ceremonyReauth, u.ID, in.SessionID)
	if err != nil {
		return models.NewSession{}, err
	}
	rule := a.secondFactorRule(u.ID)
	taken, err := a.take(ctx, "", u, rule)
	if err != nil {
		return models.NewSession{}, err
	}
	var ns models.NewSession
	err = a.transaction(ctx, "passkey re-authentication", func(tx *gorm.DB) error {
		parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Response)
		if err != nil {
			return ErrPasskeyFailed
		}
		cur, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if !cur.IsActive {
			return models.ErrNotFound
		}
		w, byID, err := a.loadWAUser(tx, &cur.SessionUser)
		if err != nil {
			return err
		}
		cred, err := a.passkeys.wa.ValidateLogin(w, st.Data, parsed)
		if err != nil {
			return ErrPasskeyFailed
		}
		row := byID[base64.RawURLEncoding.EncodeToString(cred.ID)]
		if row == nil {
			return ErrPasskeyFailed
		}
		if err := a.passkeyUsed(tx, row, cred, st); err != nil {
			return err
		}
		if err := models.ResetRule(tx, rule); err != nil {
			return err
		}
		if ns, err = sudoSession(tx, ctx, cur, in.SessionID, a.policy.lifetimes(), AuthPasswordPasskey); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventReauthenticated, cur, nil, models.CodedDetail(models.DetailPasskeyNamed, "name", row.Name)))
	})
	if errors.Is(err, ErrPasskeyFailed) {
		return models.NewSession{}, a.recordFailure(ctx, failedAttempt{op: "record failed passkey re-authentication",
			event: models.UserEvent(models.EventReauthFactorFailed, u, nil, "passkey did not verify"),
			block: models.EventSecondFactorThrottle, user: u, taken: taken}, ErrPasskeyFailed)
	}
	return ns, err
}
