package e2e

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"gatehouse/handlers"
	"gatehouse/internal/access"
)

// The README's tour shows these pages. The shots are taken here, from the
// real app in the real browser, so they show what the code does today.
// Every run takes them (into a temporary directory) and checks them; with
// SCREENSHOTS=DIR set (`go tool task screenshots` sets docs/screenshots)
// they are written to DIR instead, which is how the README's copies are
// renewed. A plain test run never rewrites tracked files.
const (
	shotWidth  = 1200
	shotHeight = 800       // at most: a shot is cropped to the page's content
	shotMaxLen = 150 << 10 // bytes per PNG, so the README stays light
)

// screenshotDir is where the shots go: $SCREENSHOTS (relative to the
// repository's root) or a temporary directory.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // tests run in e2e/
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserScreenshots takes the tour's screenshots: the login page, the
// account hub, the signed-in sessions (this browser and a phone), setting
// up an authenticator app, and the staff security overview after some
// failed sign-ins. Each is a PNG of the page at 1200 CSS pixels wide,
// cropped to its content, at most 800 high and 150 KB.
func TestBrowserScreenshots(t *testing.T) {
	dir := screenshotDir(t)
	a := newApp(t, withSecretKey(), withAccessRulesFile("../examples/access-rules.yml"))
	a.URL = strings.Replace(a.URL, "127.0.0.1", "localhost", 1) // passkeys need a host name
	a.createUser(t, "alice", "alice@example.com", userPassword)
	a.createSuperuser(t, "root", "root@example.com", adminPassword)

	guest := newTab(t, a)
	guest.expectStatus(http.StatusUnprocessableEntity)
	guest.open(loginPath)
	guest.shoot(dir, "login.png")
	// Failed sign-ins for the overview's charts.
	guest.loginFails("alice", "not the password")
	guest.loginFails("alice", "nor this one")
	guest.loginFails("mallory", "guess")

	// alice signs in here and on her phone.
	phoneLogin(t, a, "alice", userPassword)
	alice := newTab(t, a)
	alice.loginAs("alice", userPassword)
	alice.open(profilePath)
	alice.shoot(dir, "account.png")
	alice.open(sessionsPath)
	alice.waitUntil("both sessions listed", `document.querySelectorAll('[data-testid="own-session-row"]').length === 2`)
	alice.shoot(dir, "sessions.png")
	alice.open("/accounts/2fa/totp/activate/")
	alice.waitUntil("the QR code to render", `(() => { const i = document.querySelector('[data-testid="totp-qr"]'); return i && i.complete && i.naturalWidth > 0 })()`)
	alice.shoot(dir, "two-factor.png")

	// bob is signed in, but examples/access-rules.yml keeps him out of
	// app.gatehouse.localhost: the page the proxy shows him is forward
	// auth's 403 (the tab asks /auth/forward as Caddy would, from a
	// trusted address).
	a.createUser(t, "bob", "bob@example.com", userPassword)
	bob := newTab(t, a)
	bob.loginAs("bob", userPassword)
	bob.expectStatus(http.StatusForbidden)
	bob.do("forwarded headers", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
			"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http",
			"X-Forwarded-Host": "app.gatehouse.localhost", "X-Forwarded-Uri": "/reports/"}})
		return err
	}))
	bob.open("/auth/forward")
	bob.waitText(`[data-testid="denied-host"]`, "app.gatehouse.localhost")
	bob.shoot(dir, "forward-denied.png")

	root := newTab(t, a)
	root.loginAs("root", adminPassword)
	root.open("/admin/")
	root.waitText(`[data-testid="total-24h-failures"]`, "3")
	root.shoot(dir, "security-overview.png")
}

// phoneLogin signs username in from a phone's browser (its User-Agent), so
// the sessions page has a second, different row.
func phoneLogin(t *testing.T, a *app, username, password string) {
	t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, a.URL+loginPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.URL)
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1")
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("phone log-in: got %d, want 303", res.StatusCode)
	}
}

// shoot waits for the page to settle, renders it 1200 CSS pixels wide,
// and writes a PNG of its content (at most 800 pixels high) to dir/name,
// checking the file is a PNG of that size within the byte budget.
func (b *tab) shoot(dir, name string) {
	b.t.Helper()
	b.waitUntil("the page to load", "window.htmx && document.readyState === 'complete' && document.fonts.status === 'loaded'")
	b.do("a 1200-pixel-wide window", chromedp.EmulateViewport(shotWidth, shotHeight))
	// No blinking caret in an autofocused field: the shot shows the page.
	eval[chromedp.Void](b, "document.activeElement && document.activeElement.blur()")
	// An autofocused field low on the page scrolls it: the shot is of the
	// top, with the navigation (a clip outside the viewport is left blank).
	b.waitUntil("the page scrolled to the top", "(window.scrollTo(0, 0), window.scrollY === 0)")
	// The content's height, once laid out at that width.
	h := eval[float64](b, `Math.ceil(Math.max(...[...document.querySelector("main").children].map(e => e.getBoundingClientRect().bottom)) + 32)`)
	h = math.Min(h, shotHeight)
	var shot []byte
	b.do("capture "+name, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng,
			Clip:   &page.Viewport{X: 0, Y: 0, Width: shotWidth, Height: h, Scale: 1},
		})
		if err == nil {
			shot = res.Data
		}
		return err
	}))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		b.t.Fatalf("%s: not a PNG: %v", name, err)
	}
	if got := img.Bounds().Size(); got.X != shotWidth || got.Y < 200 || got.Y > shotHeight {
		b.t.Errorf("%s: got %v pixels, want %d wide and 200 to %d high", name, got, shotWidth, shotHeight)
	}
	if len(shot) > shotMaxLen {
		b.t.Errorf("%s: got %d bytes, want at most %d", name, len(shot), shotMaxLen)
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// withAccessRulesFile trusts forwarded headers from 127.0.0.1 (the tab) and
// applies the ACCESS_RULES file at rules.
func withAccessRulesFile(rules string) appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		store, err := access.NewStore(rules)
		if err != nil {
			t.Fatalf("ACCESS_RULES %s: %v", rules, err)
		}
		cfg.AccessRules = store
		cfg.TrustedProxies = []string{"127.0.0.1"}
	}
}
