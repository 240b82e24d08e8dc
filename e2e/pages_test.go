package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Every page, signed in or out, loads without a console error, an uncaught
// exception or a CSP violation (newTab's check), with its scripts running.
func TestBrowserPagesLoadCleanly(t *testing.T) {
	t.Parallel()
	// Who views the page.
	const (
		guest = iota
		member
		superuser
	)
	pages := []struct {
		path   string // %d, if any, is the ID of the user "carol"
		who    int
		status int // the page's own status
	}{
		{"/", guest, http.StatusOK},
		{"/", member, http.StatusOK},
		{loginPath, guest, http.StatusOK},
		{profilePath, member, http.StatusOK},
		{"/no/such/page/", guest, http.StatusNotFound},
		{signupPath, guest, http.StatusOK},
		{passwordResetPath, guest, http.StatusOK},
		{passwordResetDonePath, guest, http.StatusOK},
		{passwordChangePath, member, http.StatusOK},
		{adminUsersPath, member, http.StatusForbidden},
		{"/admin/", superuser, http.StatusOK},
		{"/admin/events/?kind=failures&since=24h", superuser, http.StatusOK},
		{adminUsersPath, superuser, http.StatusOK},
		{adminUsersPath + "?q=c&active=yes&sort=-date_joined", superuser, http.StatusOK},
		{adminUsersPath + "add/", superuser, http.StatusOK},
		{adminUsersPath + "%d/", superuser, http.StatusOK},
		{adminUsersPath + "%d/password/", superuser, http.StatusOK},
		{adminUsersPath + "%d/delete/", superuser, http.StatusOK},
		{"/accounts/apps/", member, http.StatusOK},
		{"/admin/oidc-clients/", superuser, http.StatusOK},
		{"/admin/oidc-clients/add/", superuser, http.StatusOK},
	}
	for _, p := range pages {
		name := strings.ReplaceAll(p.path, "%d", "{carol}")
		switch p.who {
		case member:
			name += " signed in"
		case superuser:
			name += " as superuser"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t)
			path := p.path
			if strings.Contains(path, "%d") {
				carol := a.createUser(t, "carol", "carol@example.com", userPassword)
				path = fmt.Sprintf(path, carol.ID)
			}
			if p.status != http.StatusNotFound {
				a.needEndpoint(t, path)
			}
			b := newTab(t, a)
			switch p.who {
			case member:
				a.createUser(t, "alice", "alice@example.com", "correct horse battery")
				b.loginAs("alice", "correct horse battery")
			case superuser:
				a.createSuperuser(t, "root", "root@example.com", adminPassword)
				b.loginAs("root", adminPassword)
			}
			if p.status >= 400 {
				b.expectStatus(p.status)
			}
			b.open(path)
			b.waitUntil("htmx and the app's script to load", "window.htmx && document.readyState === 'complete'")
			if got := b.path(); got != path {
				t.Errorf("address: got %s, want %s (no redirect)", got, path)
			}
			if r := a.lastRequest(t, "GET", strings.SplitN(path, "?", 2)[0]); r.Status != p.status {
				t.Errorf("status: got %d, want %d", r.Status, p.status)
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
