// Package oidcop is Gatehouse's OpenID Connect provider: other apps sign
// people in with Gatehouse. It is zitadel/oidc's op (OpenID-certified) with
// its storage over our models — no JOSE or OAuth parsing of our own.
//
// The flow: the client sends the browser to /oidc/authorize; op checks the
// request (client, exact redirect URI, scopes, PKCE method) and calls
// CreateAuthRequest, which stores it; op redirects to the client's
// LoginURL, our /oidc/continue/ page (handlers/oidc.go). That page signs
// the person in with Gatehouse's own login (second factors apply),
// re-authenticates for prompt=login and max_age, asks for consent, then
// Approve marks the request done and the page answers with op's code
// response directly — op's own /authorize/callback is never mounted, so a
// request can only be completed by the browser that approved it. At the
// token endpoint, op authenticates the client and checks PKCE, then
// CreateAccessToken / CreateAccessAndRefreshTokens consume the code (or
// spend the refresh token) with one conditional UPDATE in the transaction
// that writes the new tokens: a second use finds it spent and revokes the
// whole family instead.
package oidcop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
	"gorm.io/gorm"

	"gatehouse/internal/readcache"
	"gatehouse/internal/route"
	"gatehouse/internal/secret"
	"gatehouse/metrics"
	"gatehouse/models"
)

// Options are the provider's settings.
type Options struct {
	// Issuer is BASE_URL (no trailing slash).
	Issuer string
	// SecretKey is SECRET_KEY: the signing keys are sealed, access tokens
	// encrypted and subjects derived under keys derived from it.
	SecretKey string
	// AccessTokenLifetime, IDTokenLifetime and RefreshTokenLifetime (idle:
	// each rotation starts it again).
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	Metrics              *metrics.Metrics
}

// Defaults.
const (
	DefaultAccessTokenLifetime  = 10 * time.Minute
	DefaultIDTokenLifetime      = 10 * time.Minute
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	// RequestLifetime is how long a person has to sign in and consent,
	// and how long a used code is remembered for reuse detection.
	RequestLifetime = 10 * time.Minute
	// CodeLifetime is how long an issued code may be exchanged.
	CodeLifetime = time.Minute
)

// Provider is the OpenID provider over db.
type Provider struct {
	db      *gorm.DB
	log     *slog.Logger
	opts    Options
	op      *op.Provider
	keys    *keyring
	subKey  []byte
	sidKey  []byte
	metrics *metrics.Metrics
	// discovery is the discovery document, marshalled once.
	discovery []byte
	// userinfo is the userinfo endpoint's one statement; liveTokens keeps
	// what it read until the database next changes (userinfo.go).
	userinfo   *models.Prepared
	liveTokens *readcache.Cache[models.OIDCTokenUser]
	// userinfoHandler serves the userinfo endpoint (userinfo.go).
	userinfoHandler http.Handler
}

// ErrUnavailable means SECRET_KEY is missing or too short.
var ErrUnavailable = errors.New("the OpenID provider needs SECRET_KEY (at least 32 characters)")

// New builds the provider, making the first signing key if there is none.
func New(ctx context.Context, log *slog.Logger, db *gorm.DB, opts Options) (*Provider, error) {
	if len(opts.SecretKey) < models.MinSecretKeyLen {
		return nil, ErrUnavailable
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if opts.IDTokenLifetime <= 0 {
		opts.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	opts.Issuer = strings.TrimSuffix(opts.Issuer, "/")
	sealer, err := newKeySealer(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	if err := ensureKey(db.WithContext(ctx), sealer); err != nil {
		return nil, err
	}
	p := &Provider{db: db, log: log, opts: opts, keys: &keyring{db: db, sealer: sealer}, metrics: opts.Metrics,
		userinfo:   models.NewOIDCUserinfoQuery(db),
		liveTokens: readcache.New[models.OIDCTokenUser](models.Changes(db), maxCachedTokens)}
	if _, err := p.keys.load(); err != nil {
		return nil, err
	}
	if p.subKey, err = deriveKey(opts.SecretKey, infoSubject); err != nil {
		return nil, err
	}
	if p.sidKey, err = deriveKey(opts.SecretKey, infoSessionID); err != nil {
		return nil, err
	}
	cryptoKey, err := deriveKey(opts.SecretKey, infoTokenCrypto)
	if err != nil {
		return nil, err
	}
	cfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		SupportedScopes: []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess,
			ScopeGroups},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "at_hash",
			"c_hash", "name", "preferred_username", "email", "email_verified", "groups", "sid"},
		DefaultLogoutRedirectURI: route.URL(route.LoggedOut),
	}
	copy(cfg.CryptoKey[:], cryptoKey)
	tc, err := newTokenCrypto(cryptoKey)
	if err != nil {
		return nil, err
	}
	popts := []op.Option{
		op.WithCrypto(tc),
		op.WithCustomAuthEndpoint(op.NewEndpoint(route.URL(route.OIDCAuthorize))),
		op.WithCustomTokenEndpoint(op.NewEndpoint(route.URL(route.OIDCToken))),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(route.URL(route.OIDCUserinfo))),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(route.URL(route.OIDCRevoke))),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(route.URL(route.OIDCIntrospect))),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(route.URL(route.OIDCEndSession))),
		op.WithCustomKeysEndpoint(op.NewEndpoint(route.URL(route.OIDCKeys))),
		// Bearer tokens, never cookies: no credentialed CORS.
		op.WithCORSOptions(corsOptions()),
	}
	if strings.HasPrefix(opts.Issuer, "http://") {
		// Development and tests only: relying parties refuse http issuers
		// in production anyway.
		popts = append(popts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(cfg, &storage{p}, op.StaticIssuer(opts.Issuer), popts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	if p.discovery, err = p.buildDiscovery(); err != nil {
		return nil, err
	}
	p.userinfoHandler = cors.New(*corsOptions()).Handler(http.HandlerFunc(p.serveUserinfo))
	return p, nil
}

// corsOptions are the cross-origin rules of the endpoints apps call from
// a browser: bearer tokens, never cookies, so no credentialed CORS.
func corsOptions() *cors.Options {
	return &cors.Options{AllowedOrigins: []string{"*"}, AllowCredentials: false,
		AllowedHeaders: []string{"Authorization", "Content-Type"}, AllowedMethods: []string{"GET", "POST"}}
}

// buildDiscovery is op's discovery document trimmed to what Gatehouse
// does: the code flow only.
func (p *Provider) buildDiscovery() ([]byte, error) {
	ctx := op.ContextWithIssuer(context.Background(), p.opts.Issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, &storage{p})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.ResponseModesSupported = []string{"query"}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	// op authenticates introspection callers with HTTP Basic only (a
	// client_secret in the form is not read there): advertise what works.
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	d.DeviceAuthorizationEndpoint, d.CheckSessionIframe = "", ""
	d.BackChannelLogoutSupported, d.BackChannelLogoutSessionSupported = true, true
	d.RequestParameterSupported = false
	return jsonMarshal(d)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// Handler serves op's own endpoints (authorize, token, revocation,
// introspection; userinfo is Userinfo); handlers/routes.go mounts it on
// each. Each request carries a note of its client's ID token algorithm
// (withClientAlg).
func (p *Provider) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.op.ServeHTTP(w, withClientAlg(r))
	})
}

// Issuer is the issuer URL.
func (p *Provider) Issuer() string { return p.opts.Issuer }

// Discovery is the discovery document (JSON), made once at start.
func (p *Provider) Discovery() []byte { return p.discovery }

// JWKS is the JSON Web Key Set, from memory (re-read from the database
// every minute, so a rotation reaches every instance).
func (p *Provider) JWKS() ([]byte, error) {
	ks, err := p.keys.load()
	if err != nil {
		return nil, err
	}
	return ks.jwks, nil
}

// Subject is user's stable opaque ID for relying parties: an HMAC of the
// row ID under a key derived from SECRET_KEY, so it is neither the
// username (which can change) nor the row ID (which leaks the count).
func (p *Provider) Subject(userID uint) string {
	m := hmac.New(sha256.New, p.subKey)
	fmt.Fprintf(m, "user:%d", userID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SessionSID is the sid of the browser session whose row ID is
// sessionRowID: an HMAC under a key derived from SECRET_KEY, so the sid
// apps see leads to neither the session's cookie nor its row.
func (p *Provider) SessionSID(sessionRowID string) string {
	m := hmac.New(sha256.New, p.sidKey)
	m.Write([]byte("session:" + sessionRowID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// WithIssuer is ctx carrying the issuer, as op's handlers need when our
// pages call them directly.
func (p *Provider) WithIssuer(r *http.Request) *http.Request {
	return r.WithContext(op.ContextWithIssuer(r.Context(), p.opts.Issuer))
}

// Authorizer is op's, for answering a request (op.AuthResponse,
// op.AuthRequestError) from our pages.
func (p *Provider) Authorizer() op.Authorizer { return p.op }

// EndSession runs op's end_session handling (id_token_hint, registered
// post_logout_redirect_uri, state) and redirects.
func (p *Provider) EndSession(w http.ResponseWriter, r *http.Request) {
	op.EndSession(w, p.WithIssuer(r), p.op)
}

// CheckEndSession validates an end_session request (id_token_hint, the
// registered post_logout_redirect_uri) without acting on it, so a bad
// request signs nobody out.
func (p *Provider) CheckEndSession(r *http.Request, req *oidc.EndSessionRequest) error {
	r = p.WithIssuer(r)
	_, err := op.ValidateEndSessionRequest(r.Context(), req, p.op)
	return err
}

// CheckClientSecret reports whether clientSecret authenticates clientID
// (nil) as the token endpoint would.
func (p *Provider) CheckClientSecret(ctx context.Context, clientID, clientSecret string) error {
	return (&storage{p}).AuthorizeClientIDSecret(ctx, clientID, clientSecret)
}

// storage is op.Storage over our models. Its methods are called by op
// only; the use cases our pages call are on Provider.
type storage struct{ p *Provider }

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

func (s *storage) db(ctx context.Context) *gorm.DB { return s.p.db.WithContext(ctx) }

func (s *storage) Health(ctx context.Context) error {
	return s.db(ctx).Exec("SELECT 1").Error
}

// CreateAuthRequest stores a validated authorization request under a new
// random ID.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	id, err := secret.New()
	if err != nil {
		return nil, err
	}
	if len(req.State) > 2048 || len(req.Nonce) > 2048 || len(req.CodeChallenge) > 128 || len(req.RedirectURI) > 2048 {
		return nil, oidc.ErrInvalidRequest().WithDescription("a parameter is too long")
	}
	now := time.Now().UTC()
	row := &models.OIDCAuthRequest{
		ID: id, ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: strings.Join(req.Scopes, " "),
		State: req.State, Nonce: req.Nonce, ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: strings.Join(req.Prompt, " "), CreatedAt: now, ExpiresAt: now.Add(RequestLifetime),
	}
	if req.CodeChallenge != "" && row.CodeChallengeMethod == "" {
		row.CodeChallengeMethod = string(oidc.CodeChallengeMethodPlain)
	}
	if req.MaxAge != nil {
		v := int64(min(*req.MaxAge, 1<<31))
		row.MaxAge = &v
	}
	if err := s.db(ctx).Create(row).Error; err != nil {
		return nil, fmt.Errorf("store auth request: %w", err)
	}
	return &authRequest{row: row}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	row, err := models.OIDCAuthRequestByID(s.db(ctx), id)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired request").WithParent(err)
	}
	return s.p.wrapRequest(row), nil
}

func (p *Provider) wrapRequest(row *models.OIDCAuthRequest) *authRequest {
	a := &authRequest{row: row}
	if row.UserID != nil {
		a.sub = p.Subject(*row.UserID)
	}
	return a
}

// AuthRequestByCode finds the request a code was issued for. A code
// presented again after its exchange revokes what the first exchange
// issued (RFC 6749 §4.1.2).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if len(code) > 512 {
		return nil, errors.New("code too long")
	}
	row, err := models.OIDCAuthRequestByCode(s.db(ctx), secret.HashIn("oidc-code:", code))
	if err != nil {
		return nil, err
	}
	if row.CodeUsedAt != nil {
		s.p.reuse(ctx, row.ID, row.UserID, row.ClientID, "code")
		return nil, models.ErrOIDCReuse
	}
	if row.CreatedAt.Add(CodeLifetime).Before(time.Now()) {
		return nil, errors.New("code expired")
	}
	return s.p.wrapRequest(row), nil
}

// reuse revokes the family grantID after a spent code or refresh token
// came back, and records it.
func (p *Provider) reuse(ctx context.Context, grantID string, userID *uint, clientID, grant string) {
	p.metrics.OIDCToken(grant, metrics.OIDCReuse)
	err := p.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := models.RevokeOIDCGrantTokens(tx, grantID); err != nil {
			return err
		}
		e := models.AuthEvent{Kind: models.EventOIDCTokenReuse, UserID: userID, Detail: models.CodedDetail(models.DetailOIDCTokenReuse, "client", clientID, "grant", grant)}
		if userID != nil {
			var u models.User
			if tx.Select("username").Take(&u, *userID).Error == nil {
				e.Username = u.Username
			}
		}
		return models.RecordEvent(tx, ctx, e)
	})
	if err != nil {
		p.log.Error("oidc reuse revocation", "client_id", clientID, "err", err)
	}
}

// SaveAuthCode stores the code's hash; the code can be exchanged for
// CodeLifetime, and the request is remembered for RequestLifetime to
// catch reuse.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	h := secret.HashIn("oidc-code:", code)
	now := time.Now().UTC()
	res := s.db(ctx).Model(&models.OIDCAuthRequest{}).Where("id = ? AND done = ? AND code_hash IS NULL", id, true).
		Updates(map[string]any{"code_hash": h, "expires_at": now.Add(RequestLifetime), "created_at": now})
	if res.Error != nil {
		return fmt.Errorf("save code: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return oidc.ErrInvalidRequest().WithDescription("request already answered")
	}
	return nil
}

// DeleteAuthRequest is a no-op: op calls it after the exchange, but the
// row (its code marked used) must stay until it expires so that a second
// use of the code is recognised as reuse. The sweep deletes it.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// CreateAccessToken exchanges a code when no refresh token is due.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, _, exp, err := s.issue(ctx, req, "", false)
	return id, exp, err
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.issue(ctx, req, current, true)
}

// issue writes the tokens of a code exchange or a refresh, in one
// transaction with the conditional UPDATE that spends the code or the
// presented refresh token: of two concurrent uses exactly one wins, and
// the other revokes the family.
func (s *storage) issue(ctx context.Context, req op.TokenRequest, current string, withRefresh bool) (accessID, refresh string, exp time.Time, err error) {
	var (
		grantID, clientID, amr, scopes, kind, sid string
		userID                                    uint
		authTime                                  time.Time
		spend                                     func(tx *gorm.DB) (bool, error)
	)
	switch r := req.(type) {
	case *authRequest:
		if r.row.UserID == nil {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		kind, grantID, clientID, userID, amr, scopes, sid = "code", r.row.ID, r.row.ClientID, *r.row.UserID, r.row.AMR, r.row.Scopes, r.row.SessionID
		authTime = r.GetAuthTime()
		spend = func(tx *gorm.DB) (bool, error) { return models.ConsumeOIDCCode(tx, r.row.ID) }
	case *refreshRequest:
		if current == "" {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		kind, grantID, clientID, userID, amr, scopes, sid = "refresh", r.row.GrantID, r.row.ClientID, r.row.UserID, r.row.AMR, strings.Join(r.scopes, " "), r.row.Sid
		authTime = r.row.AuthTime
		spend = func(tx *gorm.DB) (bool, error) { return models.SpendOIDCRefresh(tx, r.row.ID) }
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	now := time.Now().UTC()
	exp = now.Add(s.p.opts.AccessTokenLifetime)
	if accessID, err = secret.New(); err != nil {
		return "", "", time.Time{}, err
	}
	if withRefresh {
		if refresh, err = secret.New(); err != nil {
			return "", "", time.Time{}, err
		}
	}
	reused := false
	err = s.db(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := spend(tx)
		if err != nil {
			return err
		}
		if !ok {
			reused = true
			return models.ErrOIDCReuse
		}
		// The user must still be active: deactivation between sign-in
		// and exchange (or refresh) ends the grant.
		var active int64
		if err := tx.Model(&models.User{}).Where("id = ? AND is_active = ?", userID, true).Count(&active).Error; err != nil {
			return err
		}
		if active == 0 {
			return models.ErrNotFound
		}
		rows := []models.OIDCToken{{ID: accessID, Kind: models.OIDCAccess, GrantID: grantID, UserID: userID, ClientID: clientID,
			Scopes: scopes, AuthTime: authTime, AMR: amr, CreatedAt: now, ExpiresAt: exp, Sid: sid}}
		if withRefresh {
			rid, err := secret.New()
			if err != nil {
				return err
			}
			h := secret.HashIn("oidc-refresh:", refresh)
			rows = append(rows, models.OIDCToken{ID: rid, Kind: models.OIDCRefresh, TokenHash: &h, GrantID: grantID,
				UserID: userID, ClientID: clientID, Scopes: scopes, AuthTime: authTime, AMR: amr, CreatedAt: now,
				ExpiresAt: now.Add(s.p.opts.RefreshTokenLifetime), Sid: sid})
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		return tx.Model(&models.OIDCGrant{}).Where("user_id = ? AND client_id = ?", userID, clientID).
			Update("last_used_at", now).Error
	})
	if reused {
		s.p.reuse(ctx, grantID, &userID, clientID, kind)
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("already used")
	}
	if errors.Is(err, models.ErrNotFound) {
		s.p.metrics.OIDCToken(kind, metrics.OIDCRefused)
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the account is no longer active")
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("issue oidc tokens: %w", err)
	}
	s.p.metrics.OIDCToken(kind, metrics.OIDCIssued)
	return accessID, refresh, exp, nil
}

// TokenRequestByRefreshToken finds a presented refresh token. A spent one
// revokes its family (RFC 6819 §5.2.2.3, OAuth 2.1 §4.3.1).
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	if !secret.Valid(token) {
		s.p.metrics.OIDCToken("refresh", metrics.OIDCRefused)
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	row, err := models.OIDCRefreshByHash(s.db(ctx), secret.HashIn("oidc-refresh:", token))
	if err != nil {
		s.p.metrics.OIDCToken("refresh", metrics.OIDCRefused)
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	if row.UsedAt != nil && row.RevokedAt == nil {
		s.p.reuse(ctx, row.GrantID, &row.UserID, row.ClientID, "refresh")
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	if row.UsedAt != nil || row.RevokedAt != nil || !row.ExpiresAt.After(time.Now()) {
		s.p.metrics.OIDCToken("refresh", metrics.OIDCRefused)
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	return &refreshRequest{row: row, sub: s.p.Subject(row.UserID), scopes: strings.Fields(row.Scopes)}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest is.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest answers where end_session redirects. The
// browser's Gatehouse session was ended by our page (handlers/oidc.go)
// before op was called; op itself is not given the cookie.
func (s *storage) TerminateSessionFromRequest(_ context.Context, req *op.EndSessionRequest) (string, error) {
	return req.RedirectURI, nil
}

// RevokeToken revokes an access token (by ID) or a refresh token (by ID,
// from GetRefreshTokenInfo, or by the token itself when op did not find
// it there: another client's, or sent with token_type_hint=access_token;
// its whole family goes), only when it was issued to clientID: another
// client's token of either kind is invalid_client (RFC 7009 §2.1), and
// stays valid. Unknown tokens are not an error (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenID, _ string, clientID string) *oidc.Error {
	if len(tokenID) > 512 {
		return nil
	}
	var t models.OIDCToken
	err := s.db(ctx).Where("id = ?", tokenID).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) && secret.Valid(tokenID) {
		var r *models.OIDCToken
		if r, err = models.OIDCRefreshByHash(s.db(ctx), secret.HashIn("oidc-refresh:", tokenID)); err == nil {
			t = *r
		}
	}
	if err != nil {
		return nil
	}
	if t.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	err = s.db(ctx).Transaction(func(tx *gorm.DB) error {
		if t.Kind == models.OIDCRefresh {
			if _, err := models.RevokeOIDCGrantTokens(tx, t.GrantID); err != nil {
				return err
			}
		} else if err := tx.Model(&models.OIDCToken{}).Where("id = ?", t.ID).Update("revoked_at", time.Now().UTC()).Error; err != nil {
			return err
		}
		var u models.User
		if err := tx.Select("id", "username").Take(&u, t.UserID).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventOIDCRevoked, &u, nil, "client "+clientID+" revoked its "+t.Kind+" token"))
	})
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// GetRefreshTokenInfo tells op whether token is one of clientID's refresh
// tokens.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if !secret.Valid(token) {
		return "", "", op.ErrInvalidRefreshToken
	}
	row, err := models.OIDCRefreshByHash(s.db(ctx), secret.HashIn("oidc-refresh:", token))
	if err != nil || row.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return s.p.Subject(row.UserID), row.ID, nil
}

// SigningKey is the key that signs the ID token being made: of the
// algorithm the client asked for (clientAlgOf: GetClientByClientID noted
// it on this request), RS256 by default.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	ks, err := s.p.keys.load()
	if err != nil {
		return nil, err
	}
	return ks.signer(clientAlgOf(ctx)), nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return Algorithms, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	ks, err := s.p.keys.load()
	if err != nil {
		return nil, err
	}
	return ks.public, nil
}

// GetClientByClientID returns a registered client; an unknown one is an
// invalid_client error (a plain error would be a 500 in some of op's
// paths).
func (s *storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	if clientID == "" || len(clientID) > 64 {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	row, err := models.OIDCClientByID(s.db(ctx), clientID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		return nil, err
	}
	noteClientAlg(ctx, row.IDTokenAlg)
	return &client{row: row, idTokenTTL: s.p.opts.IDTokenLifetime}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret in
// constant time against its stored hash.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	if clientID == "" || len(clientID) > 64 || clientSecret == "" || len(clientSecret) > 256 {
		return oidc.ErrInvalidClient()
	}
	row, err := models.OIDCClientByID(s.db(ctx), clientID)
	if err != nil || row.Public || row.SecretHash == "" ||
		!secret.Equal(row.SecretHash, secret.HashIn("oidc-client:", clientSecret)) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims, sid included (the
// browser session the sign-in came from; back-channel logout tokens
// carry the same).
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var userID uint
	var sid string
	switch r := req.(type) {
	case *authRequest:
		if r.row.UserID == nil {
			return oidc.ErrInvalidGrant()
		}
		userID, sid = *r.row.UserID, r.row.SessionID
	case *refreshRequest:
		userID, sid = r.row.UserID, r.row.Sid
	default:
		return oidc.ErrInvalidRequest()
	}
	if err := s.p.fillUserinfo(s.db(ctx), info, userID, scopes); err != nil {
		return err
	}
	if sid != "" {
		info.AppendClaims("sid", sid)
	}
	return nil
}

// SetUserinfoFromToken answers op's userinfo endpoint for a live access
// token of an active user. Gatehouse mounts its own (Userinfo, the same
// answer without op's claims-map JSON); this stays for op's interface.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	c, err := s.p.userinfoOf(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	c.fill(info)
	return nil
}

// SetIntrospectionFromToken answers RFC 7662 introspection: active only
// for a live token issued to the asking client.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := models.OIDCTokenByID(s.db(ctx), tokenID, models.OIDCAccess)
	if err != nil || t.ClientID != clientID || s.p.Subject(t.UserID) != subject {
		return oidc.ErrInvalidRequest().WithDescription("inactive")
	}
	scopes := strings.Fields(t.Scopes)
	var info oidc.UserInfo
	if err := s.p.fillUserinfo(s.db(ctx), &info, t.UserID, scopes); err != nil {
		return err
	}
	resp.SetUserInfo(&info)
	resp.AuthTime = oidc.FromTime(t.AuthTime)
	resp.AuthenticationMethodsReferences = amrOf(t.AMR)
	resp.Active = true
	resp.Scope = scopes
	resp.ClientID = t.ClientID
	resp.Audience = []string{t.ClientID}
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.TokenType = oidc.BearerToken
	return nil
}

// fillUserinfo sets the claims scopes ask for, for an active user.
func (p *Provider) fillUserinfo(db *gorm.DB, info *oidc.UserInfo, userID uint, scopes []string) error {
	var u models.User
	if err := db.Where("id = ? AND is_active = ?", userID, true).Take(&u).Error; err != nil {
		return oidc.ErrAccessDenied().WithDescription("invalid token")
	}
	return p.claimsOf(db, info, &u, scopes)
}

// claimsOf sets the claims scopes ask for from u.
func (p *Provider) claimsOf(db *gorm.DB, info *oidc.UserInfo, u *models.User, scopes []string) error {
	c, err := p.claims(p.Subject(u.ID), u.Username, u.Email, u.EmailVerified, scopes, func() ([]string, error) {
		return models.GroupNamesOf(db, u.ID)
	})
	if err != nil {
		return err
	}
	c.fill(info)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("jwt profile not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile not supported")
}
