package e2e

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// The problem detector is what lets every other test claim "no console
// errors, no CSP violations": prove it sees each kind, or that claim is
// empty.
func TestBrowserDetectsPageProblems(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	b := newTab(t, a)
	b.open("/")

	cases := []struct {
		name, script, want string
	}{
		// Chromium 156 words it "Executing inline script violates …";
		// older ones said "Refused to execute …". Both are level error.
		{"CSP blocks an inline script", `document.body.append(Object.assign(document.createElement("script"), {textContent: "window.__inline = 1"}))`, "browser log [security]: Executing inline script violates the following Content Security Policy directive"},
		{"CSP event reported", `document.body.append(Object.assign(document.createElement("script"), {textContent: "window.__inline2 = 1"}))`, "CSP violation: script-src"},
		{"console.error", `console.error("e2e detector probe")`, "console.error: e2e detector probe"},
		{"uncaught exception", `setTimeout(function () { throw new Error("e2e thrown probe") }, 0)`, "e2e thrown probe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eval[bool](b, "("+tc.script+", true)")
			deadline := time.Now().Add(actionTimeout)
			for !b.sawProblem(tc.want) && time.Now().Before(deadline) {
				time.Sleep(25 * time.Millisecond)
			}
			if !b.sawProblem(tc.want) {
				t.Errorf("got problems %q, want one containing %q", b.unexpectedProblems(), tc.want)
			}
		})
	}
	if eval[bool](b, "window.__inline === 1 || window.__inline2 === 1") {
		t.Error("an inline script ran: want CSP to block it")
	}
	// Everything above was caused on purpose.
	b.expectProblem(`Content Security Policy|CSP violation|e2e detector probe|e2e thrown probe`)
}

// sawProblem reports whether a collected problem contains substr.
func (b *tab) sawProblem(substr string) bool {
	b.settle()
	for _, p := range b.unexpectedProblems() {
		if strings.Contains(p, substr) {
			return true
		}
	}
	return false
}

// On failure a test leaves a screenshot and the page's HTML behind; prove
// the files are written and are what they claim to be.
func TestBrowserSavesArtifacts(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	b := newTab(t, a)
	b.open(loginPath)
	png, html := b.saveArtifacts(t.TempDir())
	if png == "" || html == "" {
		t.Fatalf("got paths %q and %q, want both written", png, html)
	}
	shot, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot: got %d bytes starting %q, want a PNG", len(shot), shot[:min(8, len(shot))])
	}
	doc, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `id="login-form"`) {
		t.Errorf("page HTML: got %.200q…, want the login page", doc)
	}
}
