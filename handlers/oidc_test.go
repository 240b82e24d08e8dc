package handlers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/auth"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// The OpenID provider tested with real relying-party libraries:
// coreos/go-oidc (discovery, ID token verification, userinfo) and
// golang.org/x/oauth2 (authorization URL, code exchange with PKCE,
// refresh) against the whole app over HTTP.

const rpCallback = "http://rp.test/callback"

// oidcServer is the app with SECRET_KEY set and BaseURL its own address,
// so the issuer is reachable.
func oidcServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	opts = append([]func(*Config){withSecretKey, func(c *Config) { c.BaseURL = base }}, opts...)
	ts := newTestServerWith(t, testSetup{listener: l}, opts...)
	if ts.app.core.OIDC == nil {
		t.Fatal("the OpenID provider did not start")
	}
	return ts
}

// rp is a relying party: a registered client and its libraries.
type rp struct {
	t        testing.TB
	ts       *testServer
	id       string
	secret   string
	provider *gooidc.Provider
	conf     oauth2.Config
	ctx      context.Context
}

func (ts *testServer) newRP(t testing.TB, n oidcop.NewClient, scopes ...string) *rp {
	t.Helper()
	if n.Name == "" {
		n.Name = "Wiki"
	}
	if n.RedirectURIs == nil {
		n.RedirectURIs = []string{rpCallback}
	}
	id, secret, err := oidcop.AddClient(context.Background(), ts.db, oidcop.CommandLine, n)
	if err != nil {
		t.Fatal(err)
	}
	ctx := gooidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	p, err := gooidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "profile", "email"}
	}
	return &rp{t: t, ts: ts, id: id, secret: secret, provider: p, ctx: ctx, conf: oauth2.Config{
		ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: n.RedirectURIs[0], Scopes: scopes,
	}}
}

func randText(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.TrimRight(oauth2.GenerateVerifier()[:22], "=") + string(rune('a'+b[0]%26))
}

// flow is one authorization request's parameters.
type flow struct {
	state, nonce, verifier string
	extra                  []oauth2.AuthCodeOption
}

func (r *rp) newFlow(extra ...oauth2.AuthCodeOption) *flow {
	return &flow{state: randText(r.t), nonce: randText(r.t), verifier: oauth2.GenerateVerifier(), extra: extra}
}

func (r *rp) authURL(f *flow) string {
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, f.extra...)
	return r.conf.AuthCodeURL(f.state, opts...)
}

// follow walks the browser through redirects on the provider's own site
// and stops at the first response that is not a redirect there: the
// relying party's callback (returned as its URL) or a page.
func (c *testClient) follow(start string) (*response, *url.URL) {
	c.t.Helper()
	next := start
	for range 10 {
		res := c.get(next)
		if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
			return res, nil
		}
		loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil {
			c.t.Fatal(err)
		}
		if loc.Host != res.Request.URL.Host {
			return res, loc
		}
		next = loc.String()
	}
	c.t.Fatal("too many redirects")
	return nil, nil
}

// authorize runs the browser part: returns the callback URL the provider
// sent the browser to (consenting when asked and allow is set).
func (r *rp) authorize(c *testClient, f *flow, allow bool) *url.URL {
	r.t.Helper()
	res, cb := c.follow(r.authURL(f))
	if cb == nil && allow && res.StatusCode == http.StatusOK && res.doc(r.t).Find(`[data-testid="consent"]`).Length() == 1 {
		id := res.doc(r.t).Find(`input[name="id"]`).AttrOr("value", "")
		res = c.postForm(route.URL(route.OIDCContinue)+"?id="+url.QueryEscape(id), url.Values{"id": {id}, "decision": {"allow"}})
		if res.StatusCode != http.StatusFound {
			r.t.Fatalf("consent allow: got %d, want 302; %.500s", res.StatusCode, res.body)
		}
		cb, _ = url.Parse(res.Header.Get("Location"))
	}
	if cb == nil {
		r.t.Fatalf("authorize: no redirect to the client; got %d: %.800s", res.StatusCode, res.body)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != r.conf.RedirectURL && !strings.HasPrefix(r.conf.RedirectURL, "http://127.0.0.1") {
		r.t.Fatalf("redirected to %s, want %s", got, r.conf.RedirectURL)
	}
	return cb
}

// code takes the code from a callback, checking state.
func (r *rp) code(cb *url.URL, f *flow) string {
	r.t.Helper()
	q := cb.Query()
	if e := q.Get("error"); e != "" {
		r.t.Fatalf("callback error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != f.state {
		r.t.Fatalf("state: got %q, want %q", q.Get("state"), f.state)
	}
	return q.Get("code")
}

func (r *rp) exchange(code string, f *flow) (*oauth2.Token, error) {
	return r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
}

// idClaims verifies tok's ID token with go-oidc and returns its claims.
type idClaims struct {
	Sub               string   `json:"sub"`
	Nonce             string   `json:"nonce"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	PreferredUsername string   `json:"preferred_username"`
	Name              string   `json:"name"`
	Groups            []string `json:"groups"`
	AMR               []string `json:"amr"`
	AuthTime          int64    `json:"auth_time"`
	Sid               string   `json:"sid"`
}

func (r *rp) verify(tok *oauth2.Token, f *flow) idClaims {
	r.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		r.t.Fatal("no id_token in the token response")
	}
	idt, err := r.provider.Verifier(&gooidc.Config{ClientID: r.id}).Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify id token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		r.t.Fatal(err)
	}
	if f != nil && c.Nonce != f.nonce {
		r.t.Fatalf("nonce: got %q, want %q", c.Nonce, f.nonce)
	}
	return c
}

// signIn runs a whole sign-in for c and returns the tokens.
func (r *rp) signIn(c *testClient, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *flow) {
	r.t.Helper()
	f := r.newFlow(extra...)
	tok, err := r.exchange(r.code(r.authorize(c, f, true), f), f)
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	return tok, f
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestOIDCDiscoveryAndKeys(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{})
	var d struct {
		Issuer         string   `json:"issuer"`
		Auth           string   `json:"authorization_endpoint"`
		Token          string   `json:"token_endpoint"`
		Userinfo       string   `json:"userinfo_endpoint"`
		JWKS           string   `json:"jwks_uri"`
		EndSession     string   `json:"end_session_endpoint"`
		Revocation     string   `json:"revocation_endpoint"`
		Introspection  string   `json:"introspection_endpoint"`
		ResponseTypes  []string `json:"response_types_supported"`
		GrantTypes     []string `json:"grant_types_supported"`
		PKCE           []string `json:"code_challenge_methods_supported"`
		IDTokenAlgs    []string `json:"id_token_signing_alg_values_supported"`
		Scopes         []string `json:"scopes_supported"`
		TokenAuthMeths []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := r.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != ts.URL {
		t.Errorf("issuer: got %q, want %q", d.Issuer, ts.URL)
	}
	for name, got := range map[string]string{"authorization": d.Auth, "token": d.Token, "userinfo": d.Userinfo, "jwks": d.JWKS,
		"end_session": d.EndSession, "revocation": d.Revocation, "introspection": d.Introspection} {
		if !strings.HasPrefix(got, ts.URL+"/oidc/") {
			t.Errorf("%s endpoint: got %q", name, got)
		}
	}
	if !slices.Equal(d.ResponseTypes, []string{"code"}) || !slices.Equal(d.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("code flow only: got response types %v, grant types %v", d.ResponseTypes, d.GrantTypes)
	}
	if !slices.Equal(d.PKCE, []string{"S256"}) || !slices.Equal(d.IDTokenAlgs, []string{"RS256", "ES256"}) {
		t.Errorf("got PKCE %v, algorithms %v", d.PKCE, d.IDTokenAlgs)
	}
	if !slices.Contains(d.Scopes, "groups") || !slices.Contains(d.TokenAuthMeths, "client_secret_post") || !slices.Contains(d.TokenAuthMeths, "client_secret_basic") {
		t.Errorf("got scopes %v, token auth methods %v", d.Scopes, d.TokenAuthMeths)
	}
	for _, path := range []string{route.URL(route.OIDCDiscovery), route.URL(route.OIDCKeys)} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "max-age=") {
			t.Errorf("%s: got %d, Cache-Control %q", path, res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if path == route.URL(route.OIDCKeys) {
			var set struct {
				Keys []struct{ Kid, Kty, Alg, Use string } `json:"keys"`
			}
			// RS256 (the default) first, then ES256.
			if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 || set.Keys[0].Kty != "RSA" || set.Keys[0].Alg != "RS256" ||
				set.Keys[1].Kty != "EC" || set.Keys[1].Alg != "ES256" {
				t.Errorf("jwks: got %s (%v)", body, err)
			}
		}
	}
}

func TestOIDCCodeFlowWithPKCE(t *testing.T) {
	ts := oidcServer(t)
	u := ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	g, _, err := models.EnsureGroup(ts.db, "wiki-editors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.AddMembers(ts.db, g.ID, []uint{u.ID}); err != nil {
		t.Fatal(err)
	}
	r := ts.newRP(t, oidcop.NewClient{}, gooidc.ScopeOpenID, "profile", "email", "groups")
	c := ts.client(t)

	// Signed out: /authorize leads to Gatehouse's login, then back.
	f := r.newFlow()
	res, cb := c.follow(r.authURL(f))
	if cb != nil || res.StatusCode != http.StatusOK || res.doc(t).Find(`input[name="next"]`).AttrOr("value", "") == "" {
		t.Fatalf("signed out: got %d (callback %v), want the login page with next", res.StatusCode, cb)
	}
	next := res.doc(t).Find(`input[name="next"]`).AttrOr("value", "")
	if !strings.HasPrefix(next, route.URL(route.OIDCContinue)) {
		t.Fatalf("login next: got %q", next)
	}
	res = c.postForm(route.URL(route.Login), url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "next": {next}})
	wantRedirect(t, res, next)
	// The consent page names the app and what it will learn.
	res = c.get(next)
	wantStatus(t, res, http.StatusOK)
	// The form's answer redirects to the app: CSP form-action allows
	// that origin, and only it.
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://rp.test;") {
		t.Errorf("consent page CSP: %q", csp)
	}
	doc := res.doc(t)
	if got := doc.Find(`[data-testid="consent-title"]`).Text(); !strings.Contains(got, "Wiki") {
		t.Errorf("consent title: got %q", got)
	}
	if n := doc.Find(`[data-testid="consent-scopes"] li`).Length(); n != 4 {
		t.Errorf("consent lists %d scopes, want 4", n)
	}
	if doc.Find(`button[name="decision"][value="allow"]`).Length() != 1 || doc.Find(`button[name="decision"][value="deny"]`).Length() != 1 {
		t.Error("consent: want one form with decision=allow and decision=deny buttons")
	}
	id := doc.Find(`input[name="id"]`).AttrOr("value", "")
	res = c.postForm(next, url.Values{"id": {id}, "decision": {"allow"}})
	wantStatus(t, res, http.StatusFound)
	cb, _ = url.Parse(res.Header.Get("Location"))
	tok, err := r.exchange(r.code(cb, f), f)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	claims := r.verify(tok, f)
	sub := ts.app.core.OIDC.Subject(u.ID)
	if claims.Sub != sub || claims.Sub == "alice" || claims.Sub == "1" {
		t.Errorf("sub: got %q, want the opaque %q", claims.Sub, sub)
	}
	if claims.Email != "alice@example.com" || claims.PreferredUsername != "alice" || claims.Name != "alice" || claims.EmailVerified != u.EmailVerified {
		t.Errorf("claims: got %+v", claims)
	}
	if !slices.Equal(claims.Groups, []string{"wiki-editors"}) {
		t.Errorf("groups: got %v, want [wiki-editors]", claims.Groups)
	}
	if !slices.Equal(claims.AMR, []string{"pwd"}) || time.Since(time.Unix(claims.AuthTime, 0)) > time.Minute {
		t.Errorf("amr %v, auth_time %d: want [pwd] and the login's time", claims.AMR, claims.AuthTime)
	}
	if tok.RefreshToken != "" {
		t.Error("a refresh token without offline_access")
	}
	// Userinfo with the access token.
	info, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var ic idClaims
	if err := info.Claims(&ic); err != nil {
		t.Fatal(err)
	}
	if info.Subject != sub || ic.Email != "alice@example.com" || !slices.Equal(ic.Groups, []string{"wiki-editors"}) {
		t.Errorf("userinfo: got sub %q %+v", info.Subject, ic)
	}
	// A forged or garbled access token gets nothing.
	for _, bad := range []string{"", "x", strings.Repeat("A", 5000), tok.AccessToken + "x"} {
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: bad, TokenType: "Bearer"})); err == nil {
			t.Errorf("userinfo with %.20q: no error", bad)
		}
	}

	// Consent is remembered: the next sign-in goes straight back.
	f2 := r.newFlow()
	res, cb = c.follow(r.authURL(f2))
	if cb == nil {
		t.Fatalf("second sign-in: got %d, want a redirect to the client without consent: %.300s", res.StatusCode, res.body)
	}
	if _, err := r.exchange(r.code(cb, f2), f2); err != nil {
		t.Fatal(err)
	}
	// The apps page lists it; the events record it.
	res = c.get(route.URL(route.Apps))
	if got := res.text(t, `[data-testid="app-name"]`); got != "Wiki" {
		t.Errorf("apps page: got %q, want Wiki", got)
	}
	var kinds []string
	ts.db.Model(&models.AuthEvent{}).Where("user_id = ?", u.ID).Pluck("kind", &kinds)
	if !slices.Contains(kinds, string(models.EventOIDCConsent)) || !slices.Contains(kinds, string(models.EventOIDCGrant)) {
		t.Errorf("events: got %v", kinds)
	}
}

func TestOIDCConsentDeniedAndRevoked(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{}, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	c, _ := ts.signUpAndLogin(t, "bob", "correct horse battery")

	t.Run("deny answers access_denied", func(t *testing.T) {
		f := r.newFlow()
		res, cb := c.follow(r.authURL(f))
		if cb != nil {
			t.Fatal("no consent asked")
		}
		id := res.doc(t).Find(`input[name="id"]`).AttrOr("value", "")
		res = c.postForm(route.URL(route.OIDCContinue)+"?id="+id, url.Values{"id": {id}, "decision": {"deny"}})
		wantStatus(t, res, http.StatusFound)
		cb, _ = url.Parse(res.Header.Get("Location"))
		if cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != f.state {
			t.Errorf("deny: got %s", cb)
		}
	})
	t.Run("more scopes than consented asks again", func(t *testing.T) {
		r.signIn(c)
		more := *r
		more.conf.Scopes = append(slices.Clone(r.conf.Scopes), "profile")
		f := more.newFlow()
		res, cb := c.follow(more.authURL(f))
		if cb != nil || res.doc(t).Find(`[data-testid="consent"] li[data-scope="profile"]`).Length() != 1 {
			t.Fatalf("new scope: got %d (callback %v), want the consent page listing profile", res.StatusCode, cb)
		}
	})
	t.Run("remove access revokes tokens and asks again", func(t *testing.T) {
		tok, _ := r.signIn(c)
		if tok.RefreshToken == "" {
			t.Fatal("offline_access: no refresh token")
		}
		res := c.postForm(route.URL(route.AppRemove, r.id), nil)
		wantRedirect(t, res, route.URL(route.Apps))
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("refresh after remove: got %v, want invalid_grant", err)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo after remove: still works")
		}
		f := r.newFlow()
		res, cb := c.follow(r.authURL(f))
		if cb != nil || res.doc(t).Find(`[data-testid="consent"]`).Length() != 1 {
			t.Errorf("after remove: consent not asked again (%d)", res.StatusCode)
		}
		if res := c.get(route.URL(route.Apps)); res.doc(t).Find(`[data-testid="apps-empty"]`).Length() != 1 {
			t.Error("apps page still lists the app")
		}
	})
}

func TestOIDCRefreshRotationAndReuse(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	c, u := ts.signUpAndLogin(t, "carol", "correct horse battery")
	tok, f := r.signIn(c)
	first := tok.RefreshToken
	if first == "" {
		t.Fatal("no refresh token")
	}
	// Rotation: a refresh gives a new refresh token and a new ID token.
	tok2, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: first}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == first {
		t.Fatalf("refresh token not rotated: %q", tok2.RefreshToken)
	}
	r.verify(tok2, nil)
	_ = f
	// The spent one again: refused, and the family (the new one too) is
	// revoked.
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: first}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: got %v, want invalid_grant", err)
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("after reuse, the newest refresh token: got %v, want invalid_grant", err)
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err == nil {
		t.Error("after reuse, the newest access token still works")
	}
	var n int64
	ts.db.Model(&models.AuthEvent{}).Where("user_id = ? AND kind = ?", u.ID, models.EventOIDCTokenReuse).Count(&n)
	if n != 1 {
		t.Errorf("reuse events: got %d, want 1", n)
	}
	// Hostile refresh tokens: a clear error, never a 500.
	for _, bad := range []string{"x", strings.Repeat("A", 43), strings.Repeat("é", 3000)} {
		_, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: bad}).Token()
		if oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("refresh %.10q: got %v, want invalid_grant", bad, err)
		}
	}
}

// Two concurrent uses of one refresh token: exactly one gets new tokens,
// and the family ends up revoked (the winner's new token too).
func TestOIDCRefreshRaceOneWins(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	c, _ := ts.signUpAndLogin(t, "dave", "correct horse battery")
	tok, _ := r.signIn(c)
	const n = 8
	var wg sync.WaitGroup
	results := make([]*oauth2.Token, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		})
	}
	close(start)
	wg.Wait()
	var winners []*oauth2.Token
	for i := range n {
		switch {
		case errs[i] == nil:
			winners = append(winners, results[i])
		case oauthErrorCode(errs[i]) != "invalid_grant":
			t.Errorf("loser %d: got %v, want invalid_grant", i, errs[i])
		}
	}
	if len(winners) != 1 {
		t.Fatalf("winners: got %d, want exactly 1", len(winners))
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: winners[0].RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("the winner's refresh token after the race: got %v, want invalid_grant (family revoked)", err)
	}
}

func TestOIDCCodeReuseRevokes(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true})
	c, _ := ts.signUpAndLogin(t, "erin", "correct horse battery")
	f := r.newFlow()
	code := r.code(r.authorize(c, f, true), f)
	tok, err := r.exchange(code, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.exchange(code, f); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("second exchange: got %v, want invalid_grant", err)
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the first exchange's access token survived the code's reuse")
	}
	// Whoever presents a spent code (a thief without the client's
	// secret) still ends what it issued.
	f = r.newFlow()
	code = r.code(r.authorize(c, f, true), f)
	if tok, err = r.exchange(code, f); err != nil {
		t.Fatal(err)
	}
	thief := r.conf
	thief.ClientSecret = "stolen-code-no-secret"
	if _, err := thief.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); err == nil {
		t.Fatal("the thief exchanged the code")
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("a spent code presented without the secret did not revoke its tokens")
	}
	// Concurrent exchanges of a fresh code: one wins at most.
	f = r.newFlow()
	code = r.code(r.authorize(c, f, true), f)
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := r.exchange(code, f); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("concurrent exchanges of one code: %d won, want 1", wins)
	}
}

func TestOIDCRedirectURIsAndClientAuth(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true})
	c, _ := ts.signUpAndLogin(t, "frank", "correct horse battery")
	for _, bad := range []string{"http://rp.test/callback/extra", "http://rp.test/callback?x=1", "http://evil.test/callback", "http://RP.test/callback#f", ""} {
		conf := r.conf
		conf.RedirectURL = bad
		res := c.get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if res.StatusCode == http.StatusFound || res.StatusCode == http.StatusSeeOther {
			t.Errorf("redirect_uri %q: got a redirect to %q, want an error page", bad, res.Header.Get("Location"))
		}
		if res.StatusCode >= 500 {
			t.Errorf("redirect_uri %q: got %d", bad, res.StatusCode)
		}
	}
	// The token endpoint wants the same redirect_uri as /authorize.
	f := r.newFlow()
	code := r.code(r.authorize(c, f, true), f)
	other := r.conf
	other.RedirectURL = "http://rp.test/other"
	if _, err := other.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("exchange with another redirect_uri: got %v, want invalid_grant", err)
	}
	// A wrong secret, either way of sending it, is invalid_client.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		f := r.newFlow()
		code := r.code(r.authorize(c, f, true), f)
		wrong := r.conf
		wrong.Endpoint.AuthStyle = style
		wrong.ClientSecret = "not-the-secret"
		if _, err := wrong.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); oauthErrorCode(err) != "invalid_client" {
			t.Errorf("style %d, wrong secret: got %v, want invalid_client", style, err)
		}
		right := r.conf
		right.Endpoint.AuthStyle = style
		if _, err := right.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); err != nil {
			t.Errorf("style %d, right secret: %v", style, err)
		}
	}
	// A wrong PKCE verifier is refused.
	f = r.newFlow()
	code = r.code(r.authorize(c, f, true), f)
	if _, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("wrong verifier: got %v, want invalid_grant", err)
	}
}

func TestOIDCPublicClientNeedsPKCE(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{Public: true, SkipConsent: true, RedirectURIs: []string{"http://127.0.0.1/callback"}})
	if r.secret != "" {
		t.Fatal("a public client got a secret")
	}
	c, _ := ts.signUpAndLogin(t, "grace", "correct horse battery")
	// Loopback on any port (RFC 8252 §7.3).
	r.conf.RedirectURL = "http://127.0.0.1:49152/callback"
	tok, _ := r.signIn(c)
	r.verify(tok, nil)
	// Without a code challenge: refused.
	state := "s1"
	res, cb := c.follow(r.conf.AuthCodeURL(state, gooidc.Nonce("n")))
	if cb == nil {
		t.Fatalf("no PKCE: got %d", res.StatusCode)
	}
	if code := cb.Query().Get("code"); code != "" {
		if _, err := r.conf.Exchange(r.ctx, code); err == nil {
			t.Error("a public client exchanged a code without PKCE")
		}
	}
}

func TestOIDCPromptAndMaxAge(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true})
	t.Run("prompt=none signed out is login_required", func(t *testing.T) {
		c := ts.client(t)
		f := r.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		_, cb := c.follow(r.authURL(f))
		if cb == nil || cb.Query().Get("error") != "login_required" || cb.Query().Get("state") != f.state {
			t.Fatalf("got callback %v, want error=login_required with state", cb)
		}
	})
	c, u := ts.signUpAndLogin(t, "heidi", "correct horse battery")
	t.Run("prompt=none signed in with consent skipped gives a code", func(t *testing.T) {
		f := r.newFlow(oauth2.SetAuthURLParam("prompt", "none"))
		r.code(r.authorize(c, f, false), f)
	})
	// Age the sign-in by an hour.
	old := time.Now().Add(-time.Hour).UTC()
	if err := ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).Updates(map[string]any{"auth_at": old, "reauth_at": old}).Error; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, param, value string }{{"max_age", "max_age", "60"}, {"prompt=login", "prompt", "login"}} {
		t.Run(tc.name+" asks to confirm, then auth_time is fresh", func(t *testing.T) {
			f := r.newFlow(oauth2.SetAuthURLParam(tc.param, tc.value))
			res, cb := c.follow(r.authURL(f))
			if cb != nil || !strings.HasPrefix(res.Request.URL.Path, route.URL(route.Reauth)) {
				t.Fatalf("got %d at %s (callback %v), want the reauthentication page", res.StatusCode, res.Request.URL.Path, cb)
			}
			next := res.Request.URL.Query().Get("next")
			res = c.postForm(route.URL(route.Reauth), url.Values{"password": {"correct horse battery"}, "next": {next}})
			wantRedirect(t, res, next)
			_, cb = c.follow(next)
			tok, err := r.exchange(r.code(cb, f), f)
			if err != nil {
				t.Fatal(err)
			}
			if cl := r.verify(tok, f); time.Since(time.Unix(cl.AuthTime, 0)) > time.Minute {
				t.Errorf("auth_time %d: not the confirmation's", cl.AuthTime)
			}
			old := time.Now().Add(-time.Hour).UTC()
			ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).Updates(map[string]any{"auth_at": old, "reauth_at": old})
		})
	}
	t.Run("prompt=none with max_age too old is login_required", func(t *testing.T) {
		f := r.newFlow(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("max_age", "60"))
		_, cb := c.follow(r.authURL(f))
		if cb == nil || cb.Query().Get("error") != "login_required" {
			t.Fatalf("got %v, want login_required", cb)
		}
	})
}

func TestOIDCRPInitiatedLogout(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true, PostLogoutRedirectURIs: []string{"http://rp.test/bye"}})
	c, _ := ts.signUpAndLogin(t, "ivan", "correct horse battery")
	tok, _ := r.signIn(c)
	idt, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://rp.test/bye"}, "state": {"st8"}}

	// An unregistered return address is refused and signs nobody out.
	bad := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://evil.test/"}}
	res := c.get(route.URL(route.OIDCEndSession) + "?" + bad.Encode())
	wantStatus(t, res, http.StatusBadRequest)
	// GET asks first; nothing ends yet.
	res = c.get(route.URL(route.OIDCEndSession) + "?" + q.Encode())
	wantStatus(t, res, http.StatusOK)
	// The form's answer redirects to the app: CSP form-action allows
	// that origin, and only it.
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://rp.test;") {
		t.Errorf("consent page CSP: %q", csp)
	}
	doc := res.doc(t)
	if doc.Find(`[data-testid="end-session"] input[name="id_token_hint"]`).AttrOr("value", "") != idt {
		t.Fatal("confirmation form does not carry id_token_hint")
	}
	if res := c.get(route.URL(route.Profile)); res.StatusCode != http.StatusOK {
		t.Fatal("the GET signed the browser out")
	}
	res = c.postForm(route.URL(route.OIDCEndSession), q)
	wantStatus(t, res, http.StatusFound)
	if got := res.Header.Get("Location"); got != "http://rp.test/bye?state=st8" {
		t.Errorf("logout redirect: got %q", got)
	}
	if res := c.get(route.URL(route.Profile)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after RP logout, the profile: got %d, want a redirect to login", res.StatusCode)
	}
}

// TestOIDCUserinfoExpiredToken: userinfo answers a live access token (an
// empty groups claim for a user in no group) and refuses it the moment it
// has expired, although op's encrypted token itself still decodes.
func TestOIDCUserinfoExpiredToken(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, "email", oidcop.ScopeGroups)
	c, u := ts.signUpAndLogin(t, "ivan", "correct horse battery")
	tok, _ := r.signIn(c)
	info, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var ic idClaims
	if err := info.Claims(&ic); err != nil {
		t.Fatal(err)
	}
	if ic.Groups == nil || len(ic.Groups) != 0 {
		t.Errorf("userinfo for a user in no group: got groups %#v", ic.Groups)
	}
	ts.db.Model(&models.OIDCToken{}).Where("user_id = ? AND kind = ?", u.ID, models.OIDCAccess).
		Update("expires_at", time.Now().UTC().Add(-time.Second))
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo with an expired access token works")
	}
}

// Deactivating an account ends its apps' tokens; hostile parameters never
// cause a 500.
func TestOIDCDeactivatedAndHostile(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	c, u := ts.signUpAndLogin(t, "judy", "correct horse battery")
	tok, _ := r.signIn(c)
	ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("is_active", false)
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh for a deactivated account: got %v", err)
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo for a deactivated account works")
	}
	anon := ts.client(t)
	for _, p := range []string{
		route.URL(route.OIDCContinue), route.URL(route.OIDCContinue) + "?id=nope", route.URL(route.OIDCContinue) + "?id=" + strings.Repeat("a", 43),
		route.URL(route.OIDCAuthorize), route.URL(route.OIDCAuthorize) + "?client_id=" + strings.Repeat("x", 10000),
		route.URL(route.OIDCAuthorize) + "?client_id=" + r.id + "&redirect_uri=" + url.QueryEscape(rpCallback) + "&response_type=token&scope=openid",
		route.URL(route.OIDCEndSession) + "?ui_locales=%ZZ&state=" + strings.Repeat("s", 9000),
		route.URL(route.OIDCEndSession) + "?client_id=unknown&post_logout_redirect_uri=http://x/",
		route.URL(route.OIDCEndSession) + "?id_token_hint=garbage",
		route.URL(route.OIDCUserinfo),
	} {
		if res := anon.get(p); res.StatusCode >= 500 {
			t.Errorf("GET %.80s: got %d", p, res.StatusCode)
		}
	}
	for _, form := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {r.id}, "client_secret": {r.secret}},
		{"grant_type": {"password"}, "username": {"judy"}, "password": {"x"}, "client_id": {r.id}, "client_secret": {r.secret}},
		{"grant_type": {"client_credentials"}, "client_id": {r.id}, "client_secret": {r.secret}},
		{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("z", 100000)}, "client_id": {r.id}, "client_secret": {r.secret}},
		{},
	} {
		res := anon.postForm(route.URL(route.OIDCToken), form)
		if res.StatusCode >= 500 || res.StatusCode == 200 {
			t.Errorf("token %v: got %d %s", form.Get("grant_type"), res.StatusCode, res.body)
		}
	}
}

// "Sign out everywhere else" and deleting the account end the apps'
// tokens; the staff's deactivation does too.
func TestOIDCAccountFlowsEndTokens(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	refreshFails := func(t *testing.T, tok *oauth2.Token) {
		t.Helper()
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("refresh: got %v, want invalid_grant", err)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo still answers")
		}
	}
	t.Run("sign out everywhere else", func(t *testing.T) {
		c, _ := ts.signUpAndLogin(t, "kate", "correct horse battery")
		tok, _ := r.signIn(c)
		res := c.postForm(route.URL(route.SessionsRevokeOthers), nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke others: got %d", res.StatusCode)
		}
		refreshFails(t, tok)
	})
	t.Run("delete account", func(t *testing.T) {
		c, u := ts.signUpAndLogin(t, "liam", "correct horse battery")
		tok, _ := r.signIn(c)
		res := c.postForm(route.URL(route.Delete), url.Values{"password": {"correct horse battery"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("delete: got %d %.300s", res.StatusCode, res.body)
		}
		refreshFails(t, tok)
		var n int64
		ts.db.Model(&models.OIDCToken{}).Where("user_id = ?", u.ID).Count(&n)
		if n != 0 {
			t.Errorf("%d token rows left after deletion", n)
		}
	})
	t.Run("deactivated by staff", func(t *testing.T) {
		c, u := ts.signUpAndLogin(t, "mia", "correct horse battery")
		tok, _ := r.signIn(c)
		staff := ts.createUser(t, "root", "root@example.com", "correct horse battery")
		ts.db.Model(&models.User{}).Where("id = ?", staff.ID).Updates(map[string]any{"is_staff": true, "is_superuser": true})
		inactive := false
		if _, err := ts.app.Accounts().AdminUpdate(context.Background(), staff.ID, u.ID, auth.UserChanges{IsActive: &inactive}); err != nil {
			t.Fatal(err)
		}
		var live int64
		ts.db.Model(&models.OIDCToken{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Count(&live)
		if live != 0 {
			t.Errorf("%d live tokens after deactivation", live)
		}
		refreshFails(t, tok)
	})
}

// A client limited to groups signs in only their members.
func TestOIDCClientLimitedToGroups(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true, AllowedGroups: []string{"ops"}})
	c, u := ts.signUpAndLogin(t, "nina", "correct horse battery")
	f := r.newFlow()
	_, cb := c.follow(r.authURL(f))
	if cb == nil || cb.Query().Get("error") != "access_denied" || cb.Query().Get("code") != "" {
		t.Fatalf("non-member: got %v, want error=access_denied", cb)
	}
	g, _, err := models.EnsureGroup(ts.db, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.AddMembers(ts.db, g.ID, []uint{u.ID}); err != nil {
		t.Fatal(err)
	}
	r.signIn(c)
}

// The cross-origin exemption covers the back-channel endpoints only: the
// consent form still refuses a cross-site POST, and op's own callback
// (which would complete a request for whoever knows its ID) is not
// mounted.
func TestOIDCCrossOriginAndCallback(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{})
	c, _ := ts.signUpAndLogin(t, "olga", "correct horse battery")
	f := r.newFlow()
	res, _ := c.follow(r.authURL(f))
	id := res.doc(t).Find(`input[name="id"]`).AttrOr("value", "")
	if id == "" {
		t.Fatal("no consent page")
	}
	req := c.newRequest(http.MethodPost, route.URL(route.OIDCContinue)+"?id="+id, strings.NewReader(url.Values{"id": {id}, "decision": {"allow"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.test")
	if res := c.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site consent POST: got %d, want 403", res.StatusCode)
	}
	if res := c.get("/oidc/authorize/callback?id=" + id); res.StatusCode == http.StatusFound {
		t.Errorf("op's callback answered %d (Location %s)", res.StatusCode, res.Header.Get("Location"))
	}
	// A browser app's token request carries its Origin: allowed through to
	// client authentication.
	res = c.postForm(route.URL(route.OIDCContinue)+"?id="+id, url.Values{"id": {id}, "decision": {"allow"}})
	cb, _ := url.Parse(res.Header.Get("Location"))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r.code(cb, f)}, "redirect_uri": {rpCallback},
		"code_verifier": {f.verifier}, "client_id": {r.id}, "client_secret": {r.secret}}
	req = c.newRequest(http.MethodPost, route.URL(route.OIDCToken), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://rp.test")
	if res := c.do(req); res.StatusCode != http.StatusOK || !strings.Contains(res.body, "id_token") {
		t.Errorf("cross-origin token request: got %d %.200s", res.StatusCode, res.body)
	}
}

// The admin adds, edits, re-keys and removes a client from its pages,
// reached from the admin's front page; the secret is shown once.
func TestOIDCAdminClientPages(t *testing.T) {
	ts := oidcServer(t)
	staff, _ := ts.createAdmin(t, "boss", true, true)
	res := staff.get(route.URL(route.AdminIndex))
	link := res.doc(t).Find(`[data-testid="admin-oidc-clients-link"]`).AttrOr("href", "")
	if link != route.URL(route.AdminOIDCClients) {
		t.Fatalf("admin index link: got %q", link)
	}
	wantStatus(t, staff.get(link), http.StatusOK)
	// Invalid: 422 with the field's message.
	res = staff.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {""}, "redirect_uris": {"nope"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find(`#id_redirect_uris[aria-invalid="true"]`).Length() != 1 {
		t.Error("invalid redirect URI not marked")
	}
	res = staff.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://git.example.com/user/oauth2/gatehouse/callback\n"},
		"public": {"off"}, "skip_consent": {"off"}})
	wantStatus(t, res, http.StatusOK)
	id := res.text(t, `[data-testid="oidc-client-id"]`)
	sec := res.text(t, `[data-testid="oidc-client-secret"]`)
	if id == "" || sec == "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("credentials page: id %q, secret %q, Cache-Control %q", id, sec, res.Header.Get("Cache-Control"))
	}
	ctx := context.Background()
	if err := ts.app.core.OIDC.CheckClientSecret(ctx, id, sec); err != nil {
		t.Errorf("the shown secret does not authenticate: %v", err)
	}
	// Edit.
	res = staff.postForm(route.URL(route.AdminOIDCClient, id), url.Values{"name": {"Gitea 2"}, "redirect_uris": {"https://git.example.com/cb"},
		"backchannel_logout_uri": {"https://git.example.com/#frag"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find(`#id_backchannel_logout_uri[aria-invalid="true"]`).Length() != 1 {
		t.Error("invalid back-channel logout URI not marked")
	}
	res = staff.postForm(route.URL(route.AdminOIDCClient, id), url.Values{"name": {"Gitea 2"}, "redirect_uris": {"https://git.example.com/cb"},
		"skip_consent": {"on"}, "backchannel_logout_uri": {"https://git.example.com/logout/backchannel"}})
	wantRedirect(t, res, route.URL(route.AdminOIDCClient, id))
	row, _ := models.OIDCClientByID(ts.db, id)
	if row.Name != "Gitea 2" || row.RedirectURIs != "https://git.example.com/cb" || !row.SkipConsent ||
		row.BackchannelLogoutURI != "https://git.example.com/logout/backchannel" {
		t.Errorf("after edit: %+v", row)
	}
	if v := staff.get(route.URL(route.AdminOIDCClient, id)).doc(t).Find(`#id_backchannel_logout_uri`).AttrOr("value", ""); v != row.BackchannelLogoutURI {
		t.Errorf("edit page shows back-channel logout URI %q", v)
	}
	// New secret: the old one stops working.
	res = staff.postForm(route.URL(route.AdminOIDCClientSecret, id), nil)
	wantStatus(t, res, http.StatusOK)
	sec2 := res.text(t, `[data-testid="oidc-client-secret"]`)
	if sec2 == "" || sec2 == sec {
		t.Fatal("no new secret")
	}
	if ts.app.core.OIDC.CheckClientSecret(ctx, id, sec) == nil || ts.app.core.OIDC.CheckClientSecret(ctx, id, sec2) != nil {
		t.Error("rotation: the old secret works or the new one does not")
	}
	// Remove.
	res = staff.postForm(route.URL(route.AdminOIDCClientDelete, id), nil)
	wantRedirect(t, res, route.URL(route.AdminOIDCClients))
	if _, err := models.OIDCClientByID(ts.db, id); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}
	// Outsiders are refused.
	user, _ := ts.signUpAndLogin(t, "pat", "correct horse battery")
	if res := user.get(route.URL(route.AdminOIDCClients)); res.StatusCode != http.StatusForbidden {
		t.Errorf("non-staff: got %d, want 403", res.StatusCode)
	}
}

// BenchmarkOIDCUserinfo is a relying party's userinfo request with a live
// access token (scopes openid, profile, email and groups), through the
// whole middleware stack in process: the token's and user's row, the
// user's groups and the JSON answer.
func BenchmarkOIDCUserinfo(b *testing.B) {
	ts := oidcServer(b)
	r := ts.newRP(b, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, "profile", "email", oidcop.ScopeGroups)
	ts.createUser(b, "bench", "bench@example.com", "correct horse battery")
	if _, err := ts.app.Accounts().GroupAddByCommand(b.Context(), "ops", []string{"bench"}); err != nil {
		b.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := c.PostForm(ts.URL+route.URL(route.Login), url.Values{"username": {"bench"}, "password": {"correct horse battery"}}); err != nil || res.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v", err)
	}
	f := &flow{state: "s", nonce: "n", verifier: oauth2.GenerateVerifier()}
	res, err := c.Get(r.authURL(f))
	for err == nil && (res.StatusCode == http.StatusFound || res.StatusCode == http.StatusSeeOther) {
		res.Body.Close()
		loc, _ := res.Request.URL.Parse(res.Header.Get("Location"))
		if loc.Host != res.Request.URL.Host {
			break
		}
		res, err = c.Get(loc.String())
	}
	if err != nil {
		b.Fatal(err)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	tok, err := r.conf.Exchange(r.ctx, loc.Query().Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, route.URL(route.OIDCUserinfo), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	serveLoop(b, ts.app.Routes(), req, http.StatusOK, `"groups":["ops"]`)
}

// TestOIDCClientChangesAreEvents: every change to an app in the admin —
// add, edit, new secret, remove — is a security event naming the staff
// member and the client, listed under its own kind in /admin/events/; an
// edit says what changed (a new redirect URI is where codes may go). A
// staff member demoted since is refused, and nothing is changed or
// recorded.
func TestOIDCClientChangesAreEvents(t *testing.T) {
	ts := oidcServer(t)
	staff, boss := ts.createAdmin(t, "boss", true, true)
	// wantListed fails unless /admin/events/?kind=kind lists exactly n
	// rows, the newest by boss and mentioning every word of want.
	wantListed := func(kind models.EventKind, n int, want ...string) {
		t.Helper()
		res := staff.get(route.URL(route.AdminEvents) + "?kind=" + string(kind))
		wantStatus(t, res, http.StatusOK)
		rows := res.doc(t).Find(`[data-testid="event-row"][data-kind="` + string(kind) + `"]`)
		if rows.Length() != n {
			t.Fatalf("%s: got %d rows, want %d: %.3000s", kind, rows.Length(), n, res.body)
		}
		row := rows.First().Text()
		if strings.Contains(row, "<no value>") {
			t.Errorf("%s: row %q lacks a parameter", kind, row)
		}
		for _, w := range append(want, models.EventWords(t.Context(), kind), "boss") {
			if !strings.Contains(row, w) {
				t.Errorf("%s: row %q does not mention %q", kind, row, w)
			}
		}
	}
	res := staff.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://git.example.com/cb"}})
	wantStatus(t, res, http.StatusOK)
	id := res.text(t, `[data-testid="oidc-client-id"]`)
	wantListed(models.EventOIDCClientAdded, 1, id, "Gitea", "https://git.example.com/cb")

	res = staff.postForm(route.URL(route.AdminOIDCClient, id), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://evil.example.net/cb"}})
	wantRedirect(t, res, route.URL(route.AdminOIDCClient, id))
	wantListed(models.EventOIDCClientChanged, 1, id, "changed redirect URIs", "https://evil.example.net/cb")
	res = staff.postForm(route.URL(route.AdminOIDCClient, id), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://evil.example.net/cb"}, "skip_consent": {"on"}})
	wantRedirect(t, res, route.URL(route.AdminOIDCClient, id))
	wantListed(models.EventOIDCClientChanged, 2, "changed consent")
	// The details are in the reader's language (stored as codes).
	de := withLanguage(staff, "de").get(route.URL(route.AdminEvents) + "?kind=" + string(models.EventOIDCClientChanged))
	wantStatus(t, de, http.StatusOK)
	for i, w := range []string{"durch boss: Client " + id + " (Gitea): geändert: Zustimmung", "geändert: Weiterleitungs-URIs; Weiterleitungs-URIs jetzt https://evil.example.net/cb"} {
		if row := de.doc(t).Find(`[data-testid="event-row"]`).Eq(i).Text(); !strings.Contains(row, w) {
			t.Errorf("German event row %d %q does not say %q", i, row, w)
		}
	}
	withLanguage(staff, "en")

	wantStatus(t, staff.postForm(route.URL(route.AdminOIDCClientSecret, id), nil), http.StatusOK)
	wantListed(models.EventOIDCClientSecret, 1, id)

	wantRedirect(t, staff.postForm(route.URL(route.AdminOIDCClientDelete, id), nil), route.URL(route.AdminOIDCClients))
	wantListed(models.EventOIDCClientRemoved, 1, id, "Gitea")
	// The event's actor is the staff member's row, for the admin's links.
	var e models.AuthEvent
	if err := ts.db.Where("kind = ?", models.EventOIDCClientRemoved).Take(&e).Error; err != nil || e.ActorID == nil || *e.ActorID != boss.ID {
		t.Errorf("remove event: %+v, %v; want actor %d", e, err, boss.ID)
	}

	// Twenty long redirect URIs: the client is added and its event cut
	// to the column's size, still naming who.
	var long []string
	for i := range 20 {
		long = append(long, fmt.Sprintf("https://app%d.example.com/%s/callback", i, strings.Repeat("x", 300)))
	}
	res = staff.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {"Long"}, "redirect_uris": {strings.Join(long, "\n")}})
	wantStatus(t, res, http.StatusOK)
	wantListed(models.EventOIDCClientAdded, 2, "by boss: client "+res.text(t, `[data-testid="oidc-client-id"]`)+" (Long)")

	// A staff member who lost the rights between the page and the
	// change: refused inside the transaction, nothing written.
	_, demoted := ts.createAdmin(t, "former", false, false)
	ctx := context.Background()
	_, _, err := oidcop.AddClient(ctx, ts.db, oidcop.Actor{StaffID: demoted.ID}, oidcop.NewClient{Name: "Sneaky", RedirectURIs: []string{"https://x.example/cb"}})
	if !errors.Is(err, oidcop.ErrNotAllowed) {
		t.Errorf("add by a non-staff actor: got %v, want ErrNotAllowed", err)
	}
	if rows, _ := oidcop.Clients(ctx, ts.db); len(rows) != 1 {
		t.Errorf("a refused add left %d clients, want the one long one", len(rows))
	}
	wantListed(models.EventOIDCClientAdded, 2)
}

// BenchmarkOIDCCodeExchange times the token endpoint's code exchange
// (client authentication, PKCE, the conditional UPDATE, the tokens' rows,
// a signed ID token) through go-oidc's and x/oauth2's real client; the
// browser part that makes each fresh code is not timed. `task microbench`
// runs it; the load benchmark (`task bench`, scenario 9) has userinfo.
func BenchmarkOIDCCodeExchange(b *testing.B) {
	ts := oidcServer(b)
	r := ts.newRP(b, oidcop.NewClient{SkipConsent: true})
	ts.createUser(b, "bench", "bench@example.com", "correct horse battery")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := c.PostForm(ts.URL+route.URL(route.Login), url.Values{"username": {"bench"}, "password": {"correct horse battery"}}); err != nil || res.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v", err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f := &flow{state: "s", nonce: "n", verifier: oauth2.GenerateVerifier()}
		res, err := c.Get(r.authURL(f))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		for res.StatusCode == http.StatusFound || res.StatusCode == http.StatusSeeOther {
			loc, _ := res.Request.URL.Parse(res.Header.Get("Location"))
			if loc.Host != res.Request.URL.Host {
				break
			}
			if res, err = c.Get(loc.String()); err != nil {
				b.Fatal(err)
			}
			res.Body.Close()
		}
		loc, _ := url.Parse(res.Header.Get("Location"))
		code := loc.Query().Get("code")
		b.StartTimer()
		if _, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier)); err != nil {
			b.Fatal(err)
		}
	}
}
