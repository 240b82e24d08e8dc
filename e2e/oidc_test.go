package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/auth"
	"gatehouse/internal/oidcop"
	"gatehouse/models"
)

// oauth2Proxy finds the oauth2-proxy binary (a test tool, built by .ci/run
// with `go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6`): the
// OAUTH2_PROXY variable, else PATH. Absent, the test skips — unless CI is
// set, where it fails.
func oauth2Proxy(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OAUTH2_PROXY"); p != "" {
		return p
	}
	if p, err := exec.LookPath("oauth2-proxy"); err == nil {
		return p
	}
	if inCI() {
		t.Fatal("oauth2-proxy not found: set OAUTH2_PROXY or put it on PATH (.ci/run builds it)")
	}
	t.Skip("oauth2-proxy not found (set OAUTH2_PROXY); CI unset, so skipping")
	return ""
}

// freeAddr is a free 127.0.0.1 port's address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A person signs in to an app behind oauth2-proxy — a real third-party
// OpenID client — through Gatehouse, with a passkey, consents, and the app
// (the proxy's upstream) sees their e-mail address.
func TestBrowserOAuth2ProxySignsInThroughGatehouse(t *testing.T) {
	bin := oauth2Proxy(t)
	t.Parallel()
	a := newMFAApp(t)
	u := a.createUser(t, "alice", "alice@example.com", "correct horse battery")

	// The protected app: it shows what the proxy tells it.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Upstream</title><p id="email">%s</p><p id="user">%s</p>`,
			html.EscapeString(r.Header.Get("X-Forwarded-Email")), html.EscapeString(r.Header.Get("X-Forwarded-User")))
	}))
	t.Cleanup(upstream.Close)

	proxyAddr := freeAddr(t)
	proxyURL := "http://" + proxyAddr
	id, secret, err := oidcop.AddClient(context.Background(), a.db, oidcop.CommandLine, oidcop.NewClient{
		Name: "Team wiki", RedirectURIs: []string{proxyURL + "/oauth2/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The configuration docs/oidc.md gives for oauth2-proxy.
	issuer := a.URL // BaseURL: http://localhost:PORT
	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--provider=oidc", "--oidc-issuer-url="+issuer,
		"--client-id="+id, "--client-secret="+secret,
		"--redirect-url="+proxyURL+"/oauth2/callback",
		"--http-address="+proxyAddr, "--upstream="+upstream.URL+"/",
		"--email-domain=*", "--scope=openid email profile",
		"--code-challenge-method=S256", "--skip-provider-button=true",
		"--cookie-secret=0123456789abcdef0123456789abcdef", "--cookie-secure=false",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(proxyURL + "/ping")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	b := newTab(t, a)
	b.enableVirtualAuthenticator()
	// Register a passkey, then sign out.
	b.loginAs("alice", "correct horse battery")
	b.open("/accounts/2fa/webauthn/")
	b.typeInto("id_name", "Laptop")
	b.click(`[data-testid="passkey-add"]`)
	b.waitFor(`[data-testid="recovery-codes"]`)
	b.open("/")
	b.click(`[data-testid="logout"]`)
	b.waitUntil("logged out", `!document.querySelector('[data-testid="nav-profile"]')`)

	// The app: the proxy sends the browser to Gatehouse, whose login page
	// signs in with the passkey (autofill), then asks for consent.
	b.do("open the protected app", chromedp.Navigate(proxyURL+"/"))
	b.waitFor(`[data-testid="consent"]`)
	if got := b.text(`[data-testid="consent-title"]`); !strings.Contains(got, "Team wiki") {
		t.Errorf("consent title: %q", got)
	}
	b.click(`[data-testid="consent-allow"]`)
	b.waitUntil("the upstream page", `document.getElementById("email") !== null`)
	if got := b.text("#email"); got != "alice@example.com" {
		t.Errorf("upstream saw e-mail %q, want alice@example.com", got)
	}
	var s models.Session
	if err := a.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&s).Error; err != nil || s.AuthMethod != auth.AuthPasskey {
		t.Errorf("Gatehouse session: %+v %v, want signed in with a passkey", s, err)
	}
	var grants int64
	a.db.Model(&models.OIDCGrant{}).Where("user_id = ? AND client_id = ?", u.ID, id).Count(&grants)
	if grants != 1 {
		t.Errorf("grants: %d, want 1", grants)
	}
	// The apps page lists it.
	b.open("/accounts/apps/")
	b.waitText(`[data-testid="app-name"]`, "Team wiki")
}
