package e2e

import (
	"bytes"
	"os"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"gatehouse/handlers"
	"gatehouse/internal/upstream"
)

const (
	socialSignupPath = "/accounts/3rdparty/signup/"
	connectionsPath  = "/accounts/3rdparty/"
)

// withMockOIDC runs an OpenID provider (mockoidc: discovery, keys,
// authorization that answers at once, token endpoint with PKCE) and
// configures it as the provider "corp".
func withMockOIDC(m **mockoidc.MockOIDC) appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		t.Helper()
		op, err := mockoidc.Run()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = op.Shutdown() })
		*m = op
		cfg.SocialProviders = []upstream.ProviderConfig{{ID: "corp", Type: upstream.TypeOIDC, Name: "Corp SSO",
			Issuer: op.Issuer(), ClientID: op.ClientID, ClientSecret: op.ClientSecret, Scopes: []string{"openid", "profile", "email"}}}
	}
}

// withUnreachableProviders configures an OpenID provider and GitHub that
// are never reached (for pages that show them without a sign-in).
func withUnreachableProviders() appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		cfg.SocialProviders = []upstream.ProviderConfig{
			{ID: "corp", Type: upstream.TypeOIDC, Name: "Corporate Single Sign-On for Everyone", Issuer: "http://127.0.0.1:1/oidc",
				ClientID: "a", ClientSecret: "b", Scopes: []string{"openid"}},
			{ID: "github", Type: upstream.TypeGitHub, Name: "GitHub", ClientID: "a", ClientSecret: "b",
				AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t", APIURL: "http://127.0.0.1:1/api"},
		}
	}
}

// A new person in a real browser: the login page's button, the round trip
// through the provider (the page that moves on, the provider's redirect
// back), the short sign-up form, signed in; then the connected-accounts
// page. Screenshots of each page people see are kept as test artifacts.
func TestBrowserSignInThroughProvider(t *testing.T) {
	t.Parallel()
	var op *mockoidc.MockOIDC
	a := newApp(t, withMockOIDC(&op))
	op.QueueUser(&mockoidc.MockUser{Subject: "sub-zoe", Email: "zoe@corp.example", EmailVerified: true, PreferredUsername: "zoe"})
	b := newTab(t, a)
	shots := t.TempDir()

	b.open(loginPath)
	b.waitFor(`[data-testid="provider-corp"]`)
	screenshot(t, b, shots)
	b.click(`[data-testid="provider-corp"]`)
	b.waitPath(socialSignupPath)
	if got := b.attr(`#id_username`, "value"); got != "zoe" {
		t.Fatalf("username suggestion: got %q, want zoe", got)
	}
	screenshot(t, b, shots)
	b.click(`[data-testid="social-signup-submit"]`)
	b.waitPath("/")
	b.open(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "zoe")

	// Connected accounts, reached by clicking from the account area.
	b.click(`[data-testid="account-nav-3rdparty"]`)
	b.waitPath(connectionsPath)
	b.waitFor(`[data-testid="connection"]`)
	screenshot(t, b, shots)

	// Signed out, the same identity signs straight back in.
	b.click(`[data-testid="logout"]`)
	b.waitFor(`[data-testid="nav-login"]`)
	b.open(loginPath)
	op.QueueUser(&mockoidc.MockUser{Subject: "sub-zoe", Email: "zoe@corp.example", EmailVerified: true, PreferredUsername: "zoe"})
	b.click(`[data-testid="provider-corp"]`)
	b.waitPath("/")
	b.open(profilePath)
	b.waitText(`[data-testid="profile-username"]`, "zoe")
}

// screenshot saves the page as a PNG and checks it is one.
func screenshot(t *testing.T, b *tab, dir string) {
	t.Helper()
	png, _ := b.saveArtifacts(dir)
	shot, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot of %s: %v", b.pathNow(), err)
	}
}
