package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
)

// jwsAlg is the algorithm in a compact JWS's header (go-jose reads it).
func jwsAlg(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("parse %.40q: %v", raw, err)
	}
	return jws.Signatures[0].Header.Algorithm
}

// TestOIDCES256IDTokens: discovery offers RS256 and ES256 and the JWKS
// holds a key of each; a client registered for ES256
// (id_token_signed_response_alg) gets ES256 ID tokens — from the code and
// from a refresh — and ES256 logout tokens, which go-oidc verifies against
// the JWKS (and refuses when it allows RS256 only); its ID token works as
// id_token_hint; every other client keeps RS256. The admin sets and shows
// the choice and refuses any other value.
func TestOIDCES256IDTokens(t *testing.T) {
	ts := oidcServer(t)
	recv := newLogoutReceiver(t, 0)
	scopes := []string{gooidc.ScopeOpenID, "profile", gooidc.ScopeOfflineAccess}
	es := ts.newRP(t, oidcop.NewClient{Name: "Modern", SkipConsent: true, IDTokenAlg: "ES256", BackchannelLogoutURI: recv.URL + "/bc",
		PostLogoutRedirectURIs: []string{"http://rp.test/bye"}}, scopes...)
	rs := ts.newRP(t, oidcop.NewClient{Name: "Classic", SkipConsent: true}, scopes...)

	var d struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := es.provider.Claims(&d); err != nil || !slices.Contains(d.Algs, "RS256") || !slices.Contains(d.Algs, "ES256") {
		t.Errorf("discovery algorithms: %v, %v", d.Algs, err)
	}

	c, _ := ts.signUpAndLogin(t, "erin", "correct horse battery")
	tok, f := es.signIn(c)
	raw, _ := tok.Extra("id_token").(string)
	if got := jwsAlg(t, raw); got != "ES256" {
		t.Errorf("ES256 client's ID token: alg %s", got)
	}
	es.verify(tok, f) // go-oidc, the algorithms discovery lists, the JWKS
	rsOnly := es.provider.Verifier(&gooidc.Config{ClientID: es.id, SupportedSigningAlgs: []string{"RS256"}})
	if _, err := rsOnly.Verify(es.ctx, raw); err == nil {
		t.Error("an RS256-only verifier accepted the ES256 ID token")
	}
	refreshed, err := es.conf.TokenSource(es.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if raw2, _ := refreshed.Extra("id_token").(string); jwsAlg(t, raw2) != "ES256" {
		t.Error("refreshed ID token is not ES256")
	} else {
		es.verify(refreshed, nil)
	}
	tokRS, f := rs.signIn(c)
	rawRS, _ := tokRS.Extra("id_token").(string)
	if got := jwsAlg(t, rawRS); got != "RS256" {
		t.Errorf("default client's ID token: alg %s, want RS256", got)
	}
	rs.verify(tokRS, f)

	// Its ID token is a good id_token_hint; the sign-out that follows
	// sends an ES256 logout token.
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"http://rp.test/bye"}, "state": {"s"}}
	res := c.postForm(route.URL(route.OIDCEndSession), q)
	wantStatus(t, res, http.StatusFound)
	lt := recv.next(t)
	if got := jwsAlg(t, lt); got != "ES256" {
		t.Errorf("logout token: alg %s, want ES256", got)
	}
	es.verifyLogout(lt)

	// The admin: the choice is saved and shown; anything else is refused.
	staff, _ := ts.createAdmin(t, "boss", true, true)
	res = staff.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://git.example.com/cb"},
		"id_token_signed_response_alg": {"ES256"}})
	wantStatus(t, res, http.StatusOK)
	id := res.text(t, `[data-testid="oidc-client-id"]`)
	page := staff.get(route.URL(route.AdminOIDCClient, id))
	if got := page.doc(t).Find(`[data-testid="oidc-client-id-token-alg"] option[selected]`).AttrOr("value", ""); got != "ES256" {
		t.Errorf("edit page: selected %q, want ES256", got)
	}
	res = staff.postForm(route.URL(route.AdminOIDCClient, id), url.Values{"name": {"Gitea"}, "redirect_uris": {"https://git.example.com/cb"},
		"id_token_signed_response_alg": {"HS256"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find(`#`+"id_id_token_signed_response_alg"+`[aria-invalid="true"]`).Length() != 1 {
		t.Errorf("HS256: the field is not marked invalid: %.500s", res.body)
	}
	if got := staff.get(route.URL(route.AdminOIDCClient, id)).doc(t).Find(`[data-testid="oidc-client-id-token-alg"] option[selected]`).AttrOr("value", ""); got != "ES256" {
		t.Errorf("after a refused edit: selected %q, want ES256 still", got)
	}
}
