package e2e

// Forward auth in a real browser through a real Caddy: a person goes to a
// protected app, signs in on Gatehouse (with a passkey, or a password and
// then a second factor set up on the way) and lands on the app, which sees
// who they are. The host names are *.gatehouse.localhost, as in the
// compose demo (docs/deployment.md): Chromium sends every *.localhost name
// to the loopback address and treats it as a secure context, which
// WebAuthn requires, and the session cookie covers .gatehouse.localhost.

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/internal/access"
	"gatehouse/models"
)

const browserForwardRules = `
access_control:
  default_policy: deny
  rules:
    - domain: secure.gatehouse.localhost
      policy: two_factor
    - domain: app.gatehouse.localhost
      policy: one_factor
`

// withBrowserForwardAuth makes the app the auth service of
// *.gatehouse.localhost, reached by the browser as auth.gatehouse.localhost.
func withBrowserForwardAuth() appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		t.Helper()
		port := a.Server.Listener.Addr().(*net.TCPAddr).Port
		cfg.BaseURL = fmt.Sprintf("http://auth.gatehouse.localhost:%d", port)
		cfg.SessionCookieDomain = ".gatehouse.localhost"
		cfg.TrustedProxies = []string{"127.0.0.1"}
		cfg.SecretKey = "e2e-secret-key-0123456789-abcdefghijklmnop"
		p := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(p, []byte(browserForwardRules), 0o600); err != nil {
			t.Fatal(err)
		}
		store, err := access.NewStore(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.AccessRules = store
	}
}

// pageUpstream is the protected app: a page showing the identity headers
// the proxy passed on.
func pageUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>The app</title><h1>The app</h1><p>Signed in as <b id="user">%s</b> (<span id="email">%s</span>) at <code id="uri">%s</code></p>`,
			html.EscapeString(r.Header.Get("Remote-User")), html.EscapeString(r.Header.Get("Remote-Email")), html.EscapeString(r.RequestURI))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// browserForwardSetup starts the app, the upstream and Caddy; it returns
// the app and a function giving a protected URL on host.
func browserForwardSetup(t *testing.T) (*app, func(host, path string) string) {
	t.Helper()
	a := newApp(t, withBrowserForwardAuth())
	a.URL = a.baseURL // the tab opens Gatehouse's pages under its host name
	port := startProxyFor(t, "caddy", a, pageUpstream(t), "gatehouse.localhost")
	return a, func(host, path string) string {
		return fmt.Sprintf("http://%s.gatehouse.localhost:%d%s", host, port, path)
	}
}

// waitApp waits for the app's page and returns the user it was told of.
func (b *tab) waitApp() string {
	b.t.Helper()
	b.waitUntilOr("the protected app's page", `document.getElementById("user") !== null`,
		func() string { return b.textNow("body") })
	return b.text("#user")
}

// A person with a passkey opens a protected app: Caddy's forward_auth
// sends them to Gatehouse's login page, the passkey signs them in (the
// login page's autofill), and they land on the app, which sees them.
func TestBrowserForwardAuthPasskeyThroughCaddy(t *testing.T) {
	needBinary(t, "/usr/bin/caddy")
	t.Parallel()
	a, site := browserForwardSetup(t)
	u := a.createUser(t, "alice", "alice@example.com", userPassword)

	b := newTab(t, a)
	b.enableVirtualAuthenticator()
	b.loginAs("alice", userPassword)
	b.open("/accounts/2fa/webauthn/")
	b.typeInto("id_name", "Laptop")
	b.click(`[data-testid="passkey-add"]`)
	b.waitFor(`[data-testid="recovery-codes"]`)
	b.open("/")
	b.click(`[data-testid="logout"]`)
	b.waitUntil("logged out", `!document.querySelector('[data-testid="nav-profile"]')`)

	target := site("app", "/reports/?q=1")
	b.do("open the protected app", chromedp.Navigate(target))
	if got := b.waitApp(); got != "alice" {
		t.Fatalf("the app saw Remote-User %q, want alice", got)
	}
	if got := b.text("#uri"); got != "/reports/?q=1" {
		t.Errorf("the app was asked for %q, want /reports/?q=1", got)
	}
	if got := eval[string](b, "location.href"); got != target {
		t.Errorf("landed on %s, want %s", got, target)
	}
	b.shot("app-after-passkey")
	var s models.Session
	if err := a.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&s).Error; err != nil || s.AuthMethod != auth.AuthPasskey {
		t.Errorf("Gatehouse session: %+v %v, want signed in with a passkey", s, err)
	}
	// A passkey is a second factor: the two_factor app lets her in too.
	if got := (func() string {
		b.do("open the two-factor app", chromedp.Navigate(site("secure", "/")))
		return b.waitApp()
	})(); got != "alice" {
		t.Errorf("two_factor app saw %q, want alice", got)
	}
}

// A person without a second factor opens an app whose rule is two_factor:
// after the password they are sent to set one up, turn on an
// authenticator app, and go on to the app from the recovery codes page.
func TestBrowserForwardAuthTwoFactorSetUpThroughCaddy(t *testing.T) {
	needBinary(t, "/usr/bin/caddy")
	t.Parallel()
	a, site := browserForwardSetup(t)
	a.createUser(t, "bob", "bob@example.com", userPassword)

	b := newTab(t, a)
	target := site("secure", "/dash")
	b.do("open the protected app", chromedp.Navigate(target))
	b.waitFor("#login-form")
	b.shot("login")
	b.login("bob", userPassword)
	b.waitFor(`[data-testid="mfa-next"]`)
	if got, want := b.path(), "/accounts/2fa/?next="+url.QueryEscape(target); got != want {
		t.Errorf("set-up page: at %s, want %s", got, want)
	}
	b.shot("set-up-second-factor")
	b.click(`[data-testid="totp-activate-link"]`)
	b.waitFor(`[data-testid="totp-secret"]`)
	secret := strings.ReplaceAll(b.text(`[data-testid="totp-secret"]`), " ", "")
	b.typeInto("id_code", codeAt(t, secret, time.Now()))
	b.click(`[data-testid="totp-submit"]`)
	b.waitFor(`[data-testid="recovery-continue"]`)
	b.shot("recovery-codes")
	b.click(`[data-testid="recovery-continue"]`)
	if got := b.waitApp(); got != "bob" {
		t.Fatalf("the app saw Remote-User %q, want bob", got)
	}
	if got := eval[string](b, "location.href"); got != target {
		t.Errorf("landed on %s, want %s", got, target)
	}
	b.shot("app-after-set-up")
}
