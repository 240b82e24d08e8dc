package e2e

import (
	"net/http"
	"testing"
)

// The staff security overview renders its SVG charts in a real browser
// without a console or CSP error (no chart script, no inline style), shows
// the failed sign-ins just made, and its numbers lead to the events.
func TestBrowserSecurityOverview(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "victim", "victim@example.com", userPassword)
	a.createSuperuser(t, "root", "root@example.com", adminPassword)
	b := newTab(t, a)
	b.expectStatus(http.StatusUnprocessableEntity)
	b.loginFails("victim", "not the password")
	b.loginFails("victim", "still not the password")
	b.loginAs("root", adminPassword)

	b.open("/admin/")
	b.waitUntil("htmx and the app's script to load", "window.htmx && document.readyState === 'complete'")
	if got := b.text(`[data-testid="total-24h-failures"]`); got != "2" {
		t.Errorf("failed sign-ins in 24 hours: got %q, want 2", got)
	}
	// The charts are drawn: 24 and 30 bars, the current hour's visible.
	if n := eval[int](b, `document.querySelectorAll('[data-testid="chart-24h-failures"] svg rect').length`); n != 24 {
		t.Errorf("24-hour chart: got %d bars, want 24", n)
	}
	if n := eval[int](b, `document.querySelectorAll('[data-testid="chart-30d-signins"] svg rect').length`); n != 30 {
		t.Errorf("30-day chart: got %d bars, want 30", n)
	}
	if h := eval[float64](b, `[...document.querySelectorAll('[data-testid="chart-24h-failures"] svg rect')].at(-1).getBBox().height`); h <= 0 {
		t.Errorf("the current hour's bar is not drawn (height %v)", h)
	}
	b.click(`[data-testid="total-24h-failures"]`)
	b.waitText(`[data-testid="event-count"]`, "2 events.")
	if n := eval[int](b, `document.querySelectorAll('[data-testid="event-row"]').length`); n != 2 {
		t.Errorf("event list: got %d rows, want 2", n)
	}
}
