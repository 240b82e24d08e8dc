package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// tab is one test's browser: a fresh browser context (its own cookies and
// storage, like an incognito window) with one page, pointed at one app.
// It collects every console error, uncaught exception and CSP violation the
// pages report; a test fails if any is left unexplained at its end.
type tab struct {
	t   *testing.T
	app *app
	ctx context.Context // chromedp context of the page, bounded by testTimeout

	mu       sync.Mutex
	problems []string
	expected []*regexp.Regexp // problems the test caused on purpose
	shots    string           // where shot keeps screenshots (tasks_test.go)
}

// cspReporter runs in every document before the page's own scripts. CDP
// injects it, so CSP does not apply to it. It turns securitypolicyviolation
// events into console errors, a second net under Chromium's own "Refused to
// …" log entries.
const cspReporter = `document.addEventListener("securitypolicyviolation", function (e) {
	console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
		" at " + e.sourceFile + ":" + e.lineNumber);
}, true);`

// newTab opens a page in a new browser context of the shared browser. When
// the test ends it checks the collected problems, saves a screenshot and the
// page's HTML if the test failed, then closes the context.
func newTab(t *testing.T, a *app) *tab {
	t.Helper()
	parent := requireBrowser(t)
	bounded, cancelBound := context.WithTimeout(parent, testTimeout)
	b := &tab{t: t, app: a}
	ctx, cancel := chromedp.NewContext(bounded, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		cancel()
		cancelBound()
	})
	// The first Do creates the target and binds it to ctx, so it runs
	// without the per-action timeout; testTimeout still bounds it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open browser tab: %v", err)
	}
	b.do("install CSP reporter", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter})
		return err
	}))
	t.Cleanup(b.saveArtifactsOnFailure)
	t.Cleanup(b.checkProblems)
	return b
}

// listen runs in the tab's message loop: it must be quick and call nothing.
func (b *tab) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			switch {
			case len(a.Value) > 0:
				var s string
				if json.Unmarshal(a.Value, &s) == nil {
					args = append(args, s)
				} else {
					args = append(args, string(a.Value))
				}
			default:
				args = append(args, a.Description)
			}
		}
		p = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p = fmt.Sprintf("uncaught exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1)
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError {
			return
		}
		p = fmt.Sprintf("browser log [%s]: %s (%s)", e.Source, e.Text, e.URL)
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// expectProblem declares a console/log error the test causes on purpose
// (pattern is a regexp), so checkProblems does not count it.
func (b *tab) expectProblem(pattern string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, regexp.MustCompile(pattern))
}

// expectStatus declares that the test causes responses with this status:
// Chromium logs every 4xx/5xx as "Failed to load resource", and a failed
// form answering 422 is by design.
func (b *tab) expectStatus(status int) {
	b.expectProblem(fmt.Sprintf(`^browser log \[network\]: Failed to load resource: the server responded with a status of %d `, status))
}

// unexpectedProblems returns the problems no expectProblem explains.
func (b *tab) unexpectedProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, p := range b.problems {
		for _, re := range b.expected {
			if re.MatchString(p) {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// settle makes a round trip to the page: every event sent before the reply
// has then reached listen.
func (b *tab) settle() {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[int]("1"))
}

// checkProblems fails the test on any console error, uncaught exception or
// CSP violation seen in any page of the tab.
func (b *tab) checkProblems() {
	b.settle()
	if ps := b.unexpectedProblems(); len(ps) > 0 {
		b.t.Errorf("the browser reported %d problem(s), want none:\n  %s", len(ps), strings.Join(ps, "\n  "))
	}
}

// saveArtifactsOnFailure saves the page when the test failed, into
// $E2E_ARTIFACTS (default e2e-artifacts/ at the repository root, which git
// ignores).
func (b *tab) saveArtifactsOnFailure() {
	if !b.t.Failed() {
		return
	}
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "e2e-artifacts")
	}
	b.saveArtifacts(dir)
}

// saveArtifacts writes a full-page PNG screenshot and the page's HTML into
// dir, named after the test, and logs their paths so CI output leads
// straight to them. It returns the paths it wrote.
func (b *tab) saveArtifacts(dir string) (png, html string) {
	t := b.t
	dir, _ = filepath.Abs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return "", ""
	}
	base := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if url, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		t.Logf("page: %s", url)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil { // 100 means PNG
		t.Logf("screenshot failed: %v", err)
	} else if err := os.WriteFile(base+".png", shot, 0o644); err != nil {
		t.Logf("write screenshot: %v", err)
	} else {
		png = base + ".png"
		t.Logf("screenshot: %s", png)
	}
	if doc, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML")); err != nil {
		t.Logf("page HTML failed: %v", err)
	} else if err := os.WriteFile(base+".html", []byte(doc), 0o644); err != nil {
		t.Logf("write page HTML: %v", err)
	} else {
		html = base + ".html"
		t.Logf("page HTML: %s", html)
	}
	if ps := b.unexpectedProblems(); len(ps) > 0 {
		t.Logf("browser problems:\n  %s", strings.Join(ps, "\n  "))
	}
	return png, html
}

// do runs the steps under actionTimeout and fails the test, naming what,
// if any fails.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// open loads path of the app and waits for the page to load.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.app.URL+path))
}

// waitUntil polls a JavaScript condition until it is true. Errors while a
// new page loads (no document yet) are retried, so it can wait across
// navigations.
func (b *tab) waitUntil(what, cond string) {
	b.t.Helper()
	b.waitUntilOr(what, cond, nil)
}

// waitUntilOr is waitUntil with a detail added to the failure message.
func (b *tab) waitUntilOr(what, cond string, detail func() string) {
	b.t.Helper()
	deadline := time.Now().Add(actionTimeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
			break
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	if detail != nil {
		what += " (" + detail() + ")"
	}
	b.t.Fatalf("waited %s for %s at %s; last error: %v", actionTimeout, what, url, last)
}

// waitFor waits until an element matching the CSS selector is in the page.
func (b *tab) waitFor(sel string) {
	b.t.Helper()
	b.waitUntil(sel+" in the page", "document.querySelector("+js(sel)+")")
}

// waitText waits until the element's trimmed text equals want.
func (b *tab) waitText(sel, want string) {
	b.t.Helper()
	b.waitUntilOr(fmt.Sprintf("%s to read %q", sel, want),
		"document.querySelector("+js(sel)+")?.textContent.trim() === "+js(want),
		func() string { return fmt.Sprintf("it reads %q", b.textNow(sel)) })
}

// waitPath waits until the page's path (and query) is want.
func (b *tab) waitPath(want string) {
	b.t.Helper()
	b.waitUntilOr("the address to be "+want, "location.pathname + location.search === "+js(want),
		func() string { return "it is " + b.pathNow() })
}

// textNow returns the trimmed text of the first match, "" if none.
func (b *tab) textNow(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.querySelector("+js(sel)+")?.textContent.trim() ?? ''"))
	return s
}

// pathNow returns the page's path and query, "" if unknown.
func (b *tab) pathNow() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname + location.search"))
	return s
}

// text waits for the element and returns its trimmed text.
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.waitFor(sel)
	return eval[string](b, "document.querySelector("+js(sel)+").textContent.trim()")
}

// attr returns an attribute of the first match, or "<absent>".
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	b.waitFor(sel)
	return eval[string](b, "document.querySelector("+js(sel)+").getAttribute("+js(name)+") ?? '<absent>'")
}

// path returns the page's path and query.
func (b *tab) path() string {
	b.t.Helper()
	return eval[string](b, "location.pathname + location.search")
}

// typeInto replaces the value of the input with this id by typing value
// key by key, as a person would, so input and keyup handlers fire. The old
// value is emptied first with an input event, like select-all and delete
// (chromedp.Clear only resets the value attribute, not what was typed).
func (b *tab) typeInto(id, value string) {
	b.t.Helper()
	sel := chromedp.ID(id)
	b.do("focus #"+id, chromedp.WaitVisible(sel), chromedp.Click(sel))
	eval[chromedp.Void](b, `(el => { el.value = ""; el.dispatchEvent(new Event("input", {bubbles: true})) })(document.getElementById(`+js(id)+`))`)
	if value != "" {
		b.do("type into #"+id, chromedp.SendKeys(sel, value))
	}
}

// click clicks the first element matching the CSS selector.
func (b *tab) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// focusedID returns the id of the focused element ("" if it has none).
func (b *tab) focusedID() string {
	b.t.Helper()
	return eval[string](b, "document.activeElement ? document.activeElement.id : ''")
}

// setMarker leaves a value on window; it survives only while no page load
// happens, which is how a test proves a swap did not reload.
func (b *tab) setMarker() {
	b.t.Helper()
	eval[chromedp.Void](b, "window.__e2eMarker = 42")
}

// markerSurvived reports whether setMarker's value is still there.
func (b *tab) markerSurvived() bool {
	b.t.Helper()
	return eval[bool](b, "window.__e2eMarker === 42")
}

// login fills the login form on the current page and submits it.
func (b *tab) login(username, password string) {
	b.t.Helper()
	b.fillLogin(username, password)
	b.click(`[data-testid="login-submit"]`)
}

// fillLogin types into the login form without submitting it.
func (b *tab) fillLogin(username, password string) {
	b.t.Helper()
	b.typeInto("id_username", username)
	b.typeInto("id_password", password)
}

// submitInPlace clicks the submit button of the form matching formSel and
// waits until that form element has been replaced (an htmx outerHTML swap,
// or a new page) by a new one matching formSel. Waiting on the replacement,
// not on an error text, keeps live-validation messages already on the page
// from passing for the submit's answer.
func (b *tab) submitInPlace(formSel string) {
	b.t.Helper()
	eval[chromedp.Void](b, `document.querySelector(`+js(formSel)+`).setAttribute("data-e2e-submitted", "")`)
	b.click(formSel + ` [type="submit"]`)
	b.waitUntil(formSel+" to be replaced after submit",
		`!document.querySelector("[data-e2e-submitted]") && document.querySelector(`+js(formSel)+`)`)
}
