package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
)

// withGatehouseProvider registers the app being built as a client of
// Gatehouse idp (its OpenID provider, issue 26) and configures idp as
// its upstream provider "corp" (issue 27): the callback is this app's
// own address, known once newApp has its listener.
func withGatehouseProvider(idp *app) appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		t.Helper()
		id, secret, err := oidcop.AddClient(context.Background(), idp.db, oidcop.CommandLine, oidcop.NewClient{
			Name: "Second site", RedirectURIs: []string{cfg.BaseURL + route.URL(route.SocialCallback, "corp")},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.SocialProviders = []upstream.ProviderConfig{{ID: "corp", Type: upstream.TypeOIDC, Name: "Corp SSO",
			Issuer: idp.baseURL, ClientID: id, ClientSecret: secret, Scopes: []string{"openid", "profile", "email"}}}
	}
}

// Two Gatehouses in one real browser: B signs Carol in through A's OpenID
// provider. The first time she signs in at A (its login page), allows B
// on A's consent page, and lands on B's short sign-up form prefilled from
// A's claims; after it she is signed in at B, and B's sessions page says
// how. The second time, still signed in at A, one click on B's login page
// takes her straight in: no page of A's is shown. A is addressed as
// localhost and B as 127.0.0.1, so their cookies stay apart as on two
// real sites (cookies ignore the port). Screenshots of A's pages and
// B's are kept as the other tests keep theirs.
func TestBrowserSignInThroughAnotherGatehouse(t *testing.T) {
	t.Parallel()
	idp := newMFAApp(t) // A: SECRET_KEY set, so its provider runs
	idp.createUser(t, "carol", "carol@example.com", userPassword)
	rp := newApp(t, withGatehouseProvider(idp)) // B
	b := newTab(t, rp)

	b.open(loginPath)
	b.waitFor(`[data-testid="provider-corp"]`)
	b.click(`[data-testid="provider-corp"]`)
	// At A: its login page first (carol is not signed in there).
	b.waitUntil("A's login page", `location.host === `+js(hostOf(t, idp.baseURL))+` && !!document.querySelector('[data-testid="login-submit"]')`)
	b.loaded()
	b.shot("a-login")
	b.fillLogin("carol", userPassword)
	b.click(`[data-testid="login-submit"]`)
	// A's consent page names B.
	b.waitFor(`[data-testid="consent"]`)
	if got := b.text(`[data-testid="consent-title"]`); !strings.Contains(got, "Second site") {
		t.Fatalf("consent title: got %q, want it to name Second site", got)
	}
	b.loaded()
	b.shot("a-consent")
	b.click(`[data-testid="consent-allow"]`)
	// Back at B: the short sign-up form, prefilled from A's claims.
	b.waitUntil("B's sign-up form", `location.host === `+js(hostOf(t, rp.baseURL))+` && location.pathname === `+js(socialSignupPath))
	if got := b.attr(`#id_username`, "value"); got != "carol" {
		t.Fatalf("username suggested from A's preferred_username: got %q, want carol", got)
	}
	b.loaded()
	b.shot("b-signup")
	b.click(`[data-testid="social-signup-submit"]`)
	b.waitPath("/")
	b.open(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "carol")
	b.open(sessionsPath)
	b.waitText(`[data-testid="session-method"]`, "with Corp SSO")
	b.loaded()
	b.shot("b-sessions")

	// Signed out at B, still signed in at A with consent given: one
	// click and she is in, without seeing A.
	b.click(`[data-testid="logout"]`)
	b.waitFor(`[data-testid="nav-login"]`)
	b.open(loginPath)
	b.waitFor(`[data-testid="provider-corp"]`)
	shown := idp.pagesShown()
	b.click(`[data-testid="provider-corp"]`)
	b.waitUntil("back at B, signed in", `location.host === `+js(hostOf(t, rp.baseURL))+` && location.pathname === "/" && !!document.querySelector('[data-testid="nav-profile"]')`)
	if again := idp.pagesShown(); again != shown {
		t.Errorf("the second sign-in showed %d of A's pages, want none (only redirects)", again-shown)
	}
	b.open(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "carol")
}

// hostOf is rawURL's host:port.
func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// pagesShown counts the GET requests a answered with a page (200), not a
// redirect: what a person saw of it.
func (a *app) pagesShown() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.requests {
		if r.Method == http.MethodGet && r.Status == http.StatusOK && !strings.HasPrefix(r.Path, "/static/") {
			n++
		}
	}
	return n
}
