package e2e

import (
	"net/http"
	"testing"
)

// Every page, signed in or out, loads without a console error, an uncaught
// exception or a CSP violation (newTab's check), with its scripts running.
func TestBrowserPagesLoadCleanly(t *testing.T) {
	t.Parallel()
	pages := []struct {
		path     string
		signedIn bool
		status   int // the page's own status
	}{
		{"/", false, http.StatusOK},
		{"/", true, http.StatusOK},
		{loginPath, false, http.StatusOK},
		{profilePath, true, http.StatusOK},
		{"/no/such/page/", false, http.StatusNotFound},
		{signupPath, false, http.StatusOK},
		{passwordResetPath, false, http.StatusOK},
		{passwordResetDonePath, false, http.StatusOK},
		{passwordChangePath, true, http.StatusOK},
	}
	for _, p := range pages {
		name := p.path
		if p.signedIn {
			name += " signed in"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t)
			if p.status != http.StatusNotFound {
				a.needEndpoint(t, p.path)
			}
			b := newTab(t, a)
			if p.signedIn {
				a.createUser(t, "alice", "alice@example.com", "correct horse battery")
				b.loginAs("alice", "correct horse battery")
			}
			if p.status >= 400 {
				b.expectStatus(p.status)
			}
			b.open(p.path)
			b.waitUntil("htmx and the app's script to load", "window.htmx && document.readyState === 'complete'")
			if got := b.path(); got != p.path {
				t.Errorf("address: got %s, want %s (no redirect)", got, p.path)
			}
			if got := eval[string](b, "document.documentElement.lang"); got != "en" {
				t.Errorf("<html lang>: got %q, want en", got)
			}
			if got := eval[string](b, "document.title"); got == "" {
				t.Error("document title: got empty")
			}
			// Screen readers and label/aria references need unique ids.
			if dups := eval[[]string](b, dupIDs); len(dups) > 0 {
				t.Errorf("duplicate ids: got %q, want none", dups)
			}
			if bare := eval[[]string](b, unlabelled); len(bare) > 0 {
				t.Errorf("inputs without a label: got %q, want none", bare)
			}
		})
	}
}

// dupIDs lists the ids that more than one element carries.
const dupIDs = `(() => {
	const seen = new Map();
	for (const el of document.querySelectorAll("[id]")) seen.set(el.id, (seen.get(el.id) || 0) + 1);
	return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
})()`

// unlabelled lists the visible form controls no label names.
const unlabelled = `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
	.filter(el => el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
	.map(el => el.name || el.id || el.outerHTML)`
