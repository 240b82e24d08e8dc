package handlers

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
	"gatehouse/models"
)

// TestUpstreamThroughGatehousesOwnProvider: one Gatehouse is the OpenID
// provider (issue 26), a second signs people in through it as an upstream
// provider (issue 27), over HTTP with the real code on both sides. Carol
// signs in at the provider, asks the second site to continue with it,
// consents, and lands on the second site's sign-up form, prefilled from
// the provider's claims; after it she is signed in there, and her next
// sign-in goes straight through. Each site keeps its own cookies (two
// browsers' jars: both listen on 127.0.0.1, and cookies ignore the port).
func TestUpstreamThroughGatehousesOwnProvider(t *testing.T) {
	ctx := context.Background()
	idp := oidcServer(t)
	idp.createUser(t, "carol", "carol@example.com", "carol's long passphrase")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpBase := "http://" + l.Addr().String()
	clientID, secret, err := oidcop.AddClient(ctx, idp.db, oidcop.CommandLine, oidcop.NewClient{
		Name: "Second site", RedirectURIs: []string{rpBase + route.URL(route.SocialCallback, "corp")}})
	if err != nil {
		t.Fatal(err)
	}
	rp := newTestServerWith(t, testSetup{listener: l}, func(c *Config) { c.BaseURL = rpBase }, withProviders(upstream.ProviderConfig{
		ID: "corp", Type: upstream.TypeOIDC, Name: "Corp SSO", Issuer: idp.URL,
		ClientID: clientID, ClientSecret: secret, Scopes: []string{"openid", "profile", "email"}}))

	atIdP := idp.client(t)
	atIdP.login("carol", "carol's long passphrase")

	signIn := func(c *testClient, wantConsent bool) *response {
		t.Helper()
		providerURL := startUpstream(t, c, route.URL(route.SocialLogin, "corp"), url.Values{"next": {"/accounts/profile/"}})
		res, cb := atIdP.follow(providerURL)
		if cb == nil {
			consent := res.doc(t).Find(`[data-testid="consent"]`)
			if !wantConsent || res.StatusCode != http.StatusOK || consent.Length() != 1 {
				t.Fatalf("at the provider: got %d, consent form %d (want %v): %.800s", res.StatusCode, consent.Length(), wantConsent, res.body)
			}
			id := res.doc(t).Find(`input[name="id"]`).AttrOr("value", "")
			res = atIdP.postForm(route.URL(route.OIDCContinue)+"?id="+url.QueryEscape(id), url.Values{"id": {id}, "decision": {"allow"}})
			if res.StatusCode != http.StatusFound {
				t.Fatalf("consent: got %d, want 302: %.500s", res.StatusCode, res.body)
			}
			if cb, err = url.Parse(res.Header.Get("Location")); err != nil {
				t.Fatal(err)
			}
		} else if wantConsent {
			t.Fatal("the provider did not ask for consent the first time")
		}
		if got := cb.Scheme + "://" + cb.Host + cb.Path; got != rpBase+route.URL(route.SocialCallback, "corp") {
			t.Fatalf("the provider sent the browser to %s", got)
		}
		return c.get(cb.RequestURI())
	}

	c := rp.client(t)
	wantRedirect(t, signIn(c, true), route.URL(route.SocialSignup))
	form := c.get(route.URL(route.SocialSignup))
	wantStatus(t, form, http.StatusOK)
	if v := form.doc(t).Find(`input[name="username"]`).AttrOr("value", ""); v != "carol" {
		t.Fatalf("username suggested from preferred_username: got %q, want carol", v)
	}
	if v := form.doc(t).Find(`input[name="email"]`).AttrOr("value", ""); v != "carol@example.com" {
		t.Fatalf("e-mail from the provider's claims: got %q", v)
	}
	wantRedirect(t, c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"carol"}, "email": {"carol@example.com"}}), "/accounts/profile/")
	if got := signedInAs(t, c); got != "carol" {
		t.Fatalf("signed in at the second site as %q, want carol", got)
	}
	// The identity is the provider's stable subject, not the username.
	var ident models.SocialIdentity
	if err := rp.db.Where("provider = ?", "corp").Take(&ident).Error; err != nil {
		t.Fatal(err)
	}
	if ident.Subject == "" || ident.Subject == "carol" {
		t.Fatalf("identity subject %q: want the provider's opaque sub", ident.Subject)
	}

	// Next time: consent remembered at the provider, straight in here.
	c2 := rp.client(t)
	wantRedirect(t, signIn(c2, false), "/accounts/profile/")
	if got := signedInAs(t, c2); got != "carol" {
		t.Fatalf("second sign-in: signed in as %q, want carol", got)
	}
}
