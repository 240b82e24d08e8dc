package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// The footer's language menu switches the interface on a phone, without
// JavaScript of its own (a plain form): the login page comes back in
// German, <html lang> follows, the longer German labels still fit 375 px,
// and the choice holds on the next page.
func TestBrowserLanguageMenuOnAPhone(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", userPassword)
	b := newTab(t, a)
	b.do("emulate a phone", chromedp.EmulateViewport(phoneWidth, 740, chromedp.EmulateMobile))
	b.open(loginPath)
	b.waitFor(`#language-menu`)
	if got := b.attr("html", "lang"); got != "en" {
		t.Fatalf("<html lang=%q> before choosing", got)
	}
	b.choose("language-select", "de")
	b.click(`#language-menu button`)
	b.waitUntil("the German page", `document.documentElement.lang === "de"`)
	if p := b.path(); p != loginPath {
		t.Fatalf("the menu went to %s, want back to %s", p, loginPath)
	}
	b.waitText("h1", "Anmelden")
	if got := b.text(`[data-testid="login-submit"]`); got != "Anmelden" {
		t.Errorf("submit button %q", got)
	}
	for _, u := range []string{loginPath, signupPath, passwordResetPath} {
		b.open(u)
		b.waitUntil("the page to load", "document.readyState === 'complete'")
		if lang := b.attr("html", "lang"); lang != "de" {
			t.Errorf("%s: <html lang=%q> after choosing German", u, lang)
		}
		got := eval[[]int](b, "[window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]")
		if got[0] > phoneWidth || got[1] > got[2] {
			t.Errorf("%s in German: viewport %d px, page %d px wide in %d; sticking out: %s", u, got[0], got[1], got[2], eval[string](b, widestElements))
		}
	}
	// Signed in, the German labels of the account pages fit too.
	b.open(loginPath)
	b.login("alice", userPassword)
	b.waitText(`[data-testid="greeting"]`, "Hallo alice!")
	for _, u := range []string{profilePath, "/accounts/sessions/", "/accounts/activity/"} {
		b.open(u)
		b.waitUntil("the page to load", "document.readyState === 'complete'")
		got := eval[[]int](b, "[window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]")
		if got[0] > phoneWidth || got[1] > got[2] {
			t.Errorf("%s in German: viewport %d px, page %d px wide in %d; sticking out: %s", u, got[0], got[1], got[2], eval[string](b, widestElements))
		}
	}
}
