package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/internal/secret"
)

// Errors of a sign-in through a provider. The handlers turn each into a
// page that offers the other ways in; the wrapped reason goes to the log.
var (
	// ErrUnavailable: the provider could not be reached or answered
	// nonsense (discovery, token endpoint, API down).
	ErrUnavailable = errors.New("the provider is not available")
	// ErrRejected: what the provider sent back does not hold up (a bad or
	// expired code, an ID token for another client or issuer, expired, with
	// the wrong nonce or signature).
	ErrRejected = errors.New("the provider's answer was not accepted")
	// ErrDomain: the identity's address is not in the provider's
	// allowed_domains (or not verified, so its domain proves nothing).
	ErrDomain = errors.New("this address may not sign in through this provider")
)

// Claims is the identity a provider vouched for.
type Claims struct {
	// Subject is the provider's stable id of the person (sub; GitHub's
	// numeric user id), never their address or name.
	Subject string
	// Email and EmailVerified are the address the provider gives and
	// whether it (or the provider's configuration) vouches for it.
	Email         string
	EmailVerified bool
	// Username is a suggestion (preferred_username, GitHub's login);
	// Name a display name.
	Username string
	Name     string
}

// Provider is one configured provider, ready to send people to.
type Provider struct {
	Config ProviderConfig
	client *http.Client

	mu       sync.Mutex
	oidc     *oidc.Provider // discovered once, then cached
	failedAt time.Time      // last failed discovery, to pace retries
	failErr  error
	oauth    map[string]*oauth2.Config // by redirect URL
}

// Set is the configured providers, in the file's order.
type Set struct {
	list []*Provider
	byID map[string]*Provider
}

// HTTPTimeout bounds every call to a provider; MaxResponseBytes every
// answer's size.
const (
	HTTPTimeout      = 10 * time.Second
	MaxResponseBytes = 1 << 20
	// retryDiscoveryAfter paces discovery retries after a failure, so a
	// provider that is down is not asked on every click.
	retryDiscoveryAfter = 5 * time.Second
)

// NewSet builds the providers of cfgs. client nil: a client with
// HTTPTimeout whose answers are capped at MaxResponseBytes.
func NewSet(cfgs []ProviderConfig, client *http.Client) *Set {
	if client == nil {
		client = &http.Client{Timeout: HTTPTimeout, Transport: capped{http.DefaultTransport}}
	}
	s := &Set{byID: map[string]*Provider{}}
	for _, c := range cfgs {
		p := &Provider{Config: c, client: client}
		s.list = append(s.list, p)
		s.byID[c.ID] = p
	}
	return s
}

// List returns the providers in the file's order.
func (s *Set) List() []*Provider {
	if s == nil {
		return nil
	}
	return s.list
}

// Get returns the provider with id and type typ, or nil.
func (s *Set) Get(typ, id string) *Provider {
	if s == nil {
		return nil
	}
	p := s.byID[id]
	if p == nil || p.Config.Type != typ {
		return nil
	}
	return p
}

// ByID returns the provider with id (any type), or nil.
func (s *Set) ByID(id string) *Provider {
	if s == nil {
		return nil
	}
	return s.byID[id]
}

// ByMethod returns the provider whose Method is method, or nil.
func (s *Set) ByMethod(method string) *Provider {
	for _, p := range s.List() {
		if p.Method() == method {
			return p
		}
	}
	return nil
}

// Method is how a session signed in through p is recorded (the session's
// auth_method, events): "oidc:<id>" or "github".
func (p *Provider) Method() string { return p.Config.Method() }

// Method is how a session signed in through the provider c configures
// is recorded: "oidc:<id>" or "github".
func (c ProviderConfig) Method() string {
	if c.Type == TypeGitHub {
		return "github"
	}
	return "oidc:" + c.ID
}

// ctx carries p's HTTP client to x/oauth2 and go-oidc.
func (p *Provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// discover returns the provider's cached discovery, fetching it the first
// time (go-oidc checks that the document's issuer is the configured one).
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, nil
	}
	if p.failErr != nil && time.Since(p.failedAt) < retryDiscoveryAfter {
		return nil, p.failErr
	}
	dctx, cancel := context.WithTimeout(p.ctx(ctx), HTTPTimeout)
	defer cancel()
	op, err := oidc.NewProvider(dctx, p.Config.Issuer)
	if err != nil {
		p.failedAt, p.failErr = time.Now(), fmt.Errorf("%w: discovery of %s: %v", ErrUnavailable, p.Config.Issuer, err)
		return nil, p.failErr
	}
	p.oidc, p.failErr = op, nil
	return op, nil
}

// Check reaches the provider: discovery for OpenID Connect (not cached:
// `gatehouse check` wants to know now), nothing for GitHub.
func (p *Provider) Check(ctx context.Context) error {
	if p.Config.Type == TypeGitHub {
		return nil
	}
	dctx, cancel := context.WithTimeout(p.ctx(ctx), HTTPTimeout)
	defer cancel()
	if _, err := oidc.NewProvider(dctx, p.Config.Issuer); err != nil {
		return fmt.Errorf("discovery of %s: %w", p.Config.Issuer, err)
	}
	return nil
}

// oauth2Config is p's OAuth2 client for redirectURL, kept once built:
// x/oauth2 remembers in it which way of sending the client secret the
// token endpoint accepted, so only the first exchange may need two tries.
func (p *Provider) oauth2Config(ctx context.Context, redirectURL string) (*oauth2.Config, error) {
	p.mu.Lock()
	c := p.oauth[redirectURL]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := p.newOAuth2Config(ctx, redirectURL)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth == nil {
		p.oauth = map[string]*oauth2.Config{}
	}
	if old := p.oauth[redirectURL]; old != nil {
		return old, nil
	}
	p.oauth[redirectURL] = c
	return c, nil
}

func (p *Provider) newOAuth2Config(ctx context.Context, redirectURL string) (*oauth2.Config, error) {
	c := &oauth2.Config{ClientID: p.Config.ClientID, ClientSecret: p.Config.ClientSecret,
		RedirectURL: redirectURL, Scopes: p.Config.Scopes}
	if p.Config.Type == TypeGitHub {
		c.Endpoint = oauth2.Endpoint{
			AuthURL:   or(p.Config.AuthURL, "https://github.com/login/oauth/authorize"),
			TokenURL:  or(p.Config.TokenURL, "https://github.com/login/oauth/access_token"),
			AuthStyle: oauth2.AuthStyleInParams,
		}
		return c, nil
	}
	op, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	c.Endpoint = op.Endpoint()
	return c, nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// Request is one authorization request's secrets: state (the key of the
// server-side flow), nonce (bound into the ID token) and the PKCE verifier.
type Request struct {
	State, Nonce, Verifier string
}

// AuthCodeURL is where to send the browser: the provider's authorization
// endpoint with state, nonce and a PKCE S256 challenge.
func (p *Provider) AuthCodeURL(ctx context.Context, redirectURL string, r Request) (string, error) {
	c, err := p.oauth2Config(ctx, redirectURL)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.Verifier)}
	if p.Config.Type == TypeOIDC {
		opts = append(opts, oidc.Nonce(r.Nonce))
	}
	return c.AuthCodeURL(r.State, opts...), nil
}

// Exchange trades the code for the identity: the code exchange with the
// PKCE verifier, then for OpenID Connect the ID token verified by go-oidc
// (signature, issuer, audience = our client id, expiry) and its nonce
// compared with r's; for GitHub the user and its verified primary address
// from the API. allowed_domains is applied last.
func (p *Provider) Exchange(ctx context.Context, redirectURL, code string, r Request) (Claims, error) {
	ctx, cancel := context.WithTimeout(p.ctx(ctx), 2*HTTPTimeout)
	defer cancel()
	c, err := p.oauth2Config(ctx, redirectURL)
	if err != nil {
		return Claims{}, err
	}
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(r.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return Claims{}, fmt.Errorf("%w: code exchange: %v", ErrRejected, err)
		}
		return Claims{}, fmt.Errorf("%w: code exchange: %v", ErrUnavailable, err)
	}
	var cl Claims
	if p.Config.Type == TypeGitHub {
		cl, err = p.github(ctx, c, tok)
	} else {
		cl, err = p.idToken(ctx, tok, r.Nonce)
	}
	if err != nil {
		return Claims{}, err
	}
	if p.Config.EmailsVerified && cl.Email != "" {
		cl.EmailVerified = true
	}
	if len(p.Config.AllowedDomains) > 0 && !p.allowedDomain(cl) {
		return Claims{}, ErrDomain
	}
	return cl, nil
}

// allowedDomain reports whether cl's address is verified and in one of
// the allowed domains.
func (p *Provider) allowedDomain(cl Claims) bool {
	if !cl.EmailVerified {
		return false
	}
	at := strings.LastIndexByte(cl.Email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(cl.Email[at+1:])
	for _, d := range p.Config.AllowedDomains {
		if domain == d {
			return true
		}
	}
	return false
}

// idClaims are the ID token claims read; email_verified comes as a bool
// or, from some providers, as the string "true".
type idClaims struct {
	Email             string `json:"email"`
	EmailVerified     any    `json:"email_verified"`
	PreferredUsername string `json:"preferred_username"`
	Nickname          string `json:"nickname"`
	Name              string `json:"name"`
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// idToken verifies tok's ID token and reads its claims.
func (p *Provider) idToken(ctx context.Context, tok *oauth2.Token, nonce string) (Claims, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Claims{}, fmt.Errorf("%w: no id_token in the token response", ErrRejected)
	}
	op, err := p.discover(ctx)
	if err != nil {
		return Claims{}, err
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.Config.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: id_token: %v", ErrRejected, err)
	}
	if nonce == "" || !secret.Equal(idt.Nonce, nonce) {
		return Claims{}, fmt.Errorf("%w: id_token: nonce mismatch", ErrRejected)
	}
	var ic idClaims
	if err := idt.Claims(&ic); err != nil {
		return Claims{}, fmt.Errorf("%w: id_token claims: %v", ErrRejected, err)
	}
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return Claims{}, fmt.Errorf("%w: id_token: no usable sub", ErrRejected)
	}
	if ic.Email == "" && op.UserInfoEndpoint() != "" {
		// Some providers put the address in userinfo only; its sub must
		// be the ID token's.
		if ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject {
			var uc idClaims
			if ui.Claims(&uc) == nil {
				ic.Email, ic.EmailVerified = uc.Email, uc.EmailVerified
				ic.PreferredUsername, ic.Name = or(ic.PreferredUsername, uc.PreferredUsername), or(ic.Name, uc.Name)
			}
		}
	}
	cl := Claims{Subject: idt.Subject, Email: cleanEmail(ic.Email), Name: ic.Name,
		Username: or(ic.PreferredUsername, ic.Nickname)}
	cl.EmailVerified = cl.Email != "" && truthy(ic.EmailVerified)
	return cl, nil
}

// cleanEmail keeps an address that parses as a bare address, else "".
func cleanEmail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return ""
	}
	return s
}

// github reads the user and its addresses from GitHub's API.
func (p *Provider) github(ctx context.Context, c *oauth2.Config, tok *oauth2.Token) (Claims, error) {
	api := strings.TrimRight(or(p.Config.APIURL, "https://api.github.com"), "/")
	hc := c.Client(ctx, tok)
	var u struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := getJSON(ctx, hc, api+"/user", &u); err != nil {
		return Claims{}, err
	}
	if u.ID <= 0 {
		return Claims{}, fmt.Errorf("%w: github /user without an id", ErrRejected)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := getJSON(ctx, hc, api+"/user/emails", &emails); err != nil {
		return Claims{}, err
	}
	cl := Claims{Subject: strconv.FormatInt(u.ID, 10), Username: u.Login, Name: u.Name}
	for _, e := range emails {
		if e.Primary {
			cl.Email, cl.EmailVerified = cleanEmail(e.Email), e.Verified
		}
	}
	cl.EmailVerified = cl.EmailVerified && cl.Email != ""
	return cl, nil
}

// getJSON GETs url with GitHub's media type and decodes the answer.
func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s: %s", ErrRejected, url, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: %s: %s", ErrUnavailable, url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxResponseBytes)).Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, url, err)
	}
	return nil
}

// capped limits every answer's body to MaxResponseBytes.
type capped struct{ rt http.RoundTripper }

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, MaxResponseBytes), resp.Body}
	return resp, nil
}
