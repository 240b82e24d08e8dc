// Package e2e drives the whole Gatehouse app in a real, headless Chromium:
// htmx swaps, redirects, focus and CSP can only be proven in a browser.
//
// One browser process serves the package run (TestMain stops it); every test
// gets its own app on a fresh SQLite file and its own incognito-like browser
// context, so tests are isolated and can run in parallel.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// actionTimeout bounds every browser step, so a hang fails in seconds
	// instead of burning CI's time budget.
	actionTimeout = 20 * time.Second
	// testTimeout bounds a whole test's tab: even a stuck cleanup ends.
	testTimeout = 2 * time.Minute
	// startTimeout bounds the browser's start-up.
	startTimeout = 45 * time.Second
)

// browser is the one Chromium shared by the package's tests.
var browser struct {
	once   sync.Once
	ctx    context.Context // chromedp context holding the browser; no deadline
	stop   func()
	err    error  // start-up failure
	path   string // executable in use
	output syncBuffer
}

// TestMain stops the shared browser once every test has run; tests start it
// on first use, so a run that selects no browser test starts none.
func TestMain(m *testing.M) {
	code := m.Run()
	if browser.stop != nil {
		browser.stop()
	}
	os.Exit(code)
}

// inCI reports whether the CI variable is set (to anything but false/0), in
// which case a missing browser is a failure, not a skip.
func inCI() bool { return ciSet(os.Getenv("CI")) }

func ciSet(v string) bool {
	v = strings.TrimSpace(strings.ToLower(v))
	return v != "" && v != "false" && v != "0"
}

// findBrowser returns the Chromium to drive: $CHROME_PATH, else
// /usr/bin/chromium, else chromium, chromium-browser or google-chrome from
// PATH. errNoBrowser means none is installed; other errors are a
// misconfiguration (a CHROME_PATH that does not run) and always fail.
func findBrowser() (string, error) { return findBrowserWith(os.Getenv, exec.LookPath) }

func findBrowserWith(getenv func(string) string, lookPath func(string) (string, error)) (string, error) {
	if p := strings.TrimSpace(getenv("CHROME_PATH")); p != "" {
		if _, err := lookPath(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%q is not an executable: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := lookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errNoBrowser
}

var errNoBrowser = errors.New("no Chromium found (looked at $CHROME_PATH, /usr/bin/chromium, and chromium, " +
	"chromium-browser, google-chrome in PATH); install it with `apt-get install chromium` or set CHROME_PATH")

// requireBrowser returns the shared browser context, starting Chromium on
// first use. Without a browser the test is skipped, unless CI is set: then
// it fails, so CI can never pass by skipping the browser suite.
func requireBrowser(t *testing.T) context.Context {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.err == nil {
		return browser.ctx
	}
	if skipWithout(browser.err, inCI()) {
		t.Skipf("browser tests skipped: %v", browser.err)
	}
	if errors.Is(browser.err, errNoBrowser) {
		t.Fatalf("CI is set, so the browser suite must run: %v", browser.err)
	}
	if browser.path == "" {
		t.Fatalf("find browser: %v", browser.err)
	}
	t.Fatalf("start browser %s: %v\nbrowser output:\n%s", browser.path, browser.err, browser.output.String())
	return nil
}

// skipWithout reports whether a test may skip after the browser could not
// be used: only when none is installed and CI is unset. A browser that is
// there but will not start is a failure everywhere.
func skipWithout(err error, ci bool) bool {
	return errors.Is(err, errNoBrowser) && !ci
}

// startBrowser starts headless Chromium with a throw-away profile. The flags
// keep it from phoning home: on a loopback-only network its background
// connections would otherwise be refused and logged.
func startBrowser() {
	path, err := findBrowser()
	if err != nil {
		browser.err = err
		return
	}
	browser.path = path
	dir, err := os.MkdirTemp("", "gatehouse-e2e-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&browser.output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	browser.stop = func() {
		cancelCtx()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	// The first Do starts the process and binds it to ctx, which must carry
	// no deadline; the start-up is bounded from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		err = fmt.Errorf("no answer within %s", startTimeout)
	}
	if err != nil {
		browser.err = err
		browser.stop()
		browser.stop = nil
		return
	}
	browser.ctx = ctx
}

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
