package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gatehouse/auth"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

const (
	sessionsPath = "/accounts/sessions/"
	reauthPath   = "/accounts/reauthenticate/"
	emailPath    = "/accounts/email/"
)

// sessionCookie returns the browser context's session cookie.
func (b *tab) sessionCookie() *network.Cookie {
	b.t.Helper()
	var cookies []*network.Cookie
	b.do("read cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{b.app.URL}})
		cookies = res.Cookies
		return err
	}))
	for _, c := range cookies {
		if c.Name == websession.SessionCookieName {
			return c
		}
	}
	b.t.Fatalf("no %s cookie in the browser", websession.SessionCookieName)
	return nil
}

// Two browsers signed in as one user: the first signs the second out from
// the sessions page (htmx removes the row in place) and the second is
// signed out on its next page.
func TestBrowserSessionsRevoke(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	laptop := newTab(t, a)
	phone := newTab(t, a)
	laptop.loginAs("alice", "correct horse battery")
	phone.loginAs("alice", "correct horse battery")

	laptop.open(sessionsPath)
	laptop.waitUntil("htmx to load", "window.htmx")
	if n := eval[int](laptop, `document.querySelectorAll("[data-testid=own-session-row]").length`); n != 2 {
		t.Fatalf("sessions listed: got %d, want 2", n)
	}
	if got := laptop.text(`[data-testid=session-current]`); got != "this device" {
		t.Fatalf("this device: got %q", got)
	}
	laptop.setMarker()
	laptop.click(`[data-testid=own-session-revoke]`)
	laptop.waitUntil("the revoked row to go", `document.querySelectorAll("[data-testid=own-session-row]").length === 1`)
	if !laptop.markerSurvived() {
		t.Fatal("the page reloaded; want the row removed in place")
	}

	phone.open(profilePath)
	phone.waitUntil("the login page", `location.pathname === "/accounts/login/"`)
	laptop.open(profilePath)
	laptop.waitText(`[data-testid=profile-username]`, "alice")
}

// Remember me: unticked, the session cookie has no expiry (it ends with
// the browser); ticked, it lasts SESSION_LIFETIME.
func TestBrowserRememberMe(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")

	forget := newTab(t, a)
	forget.loginAs("alice", "correct horse battery")
	if c := forget.sessionCookie(); !c.Session || c.Expires > 0 {
		t.Fatalf("unticked: got session=%t expires=%v, want a cookie without expiry", c.Session, c.Expires)
	}

	remember := newTab(t, a)
	remember.open(loginPath)
	remember.fillLogin("alice", "correct horse battery")
	remember.click(`#id_remember`)
	remember.click(`[data-testid="login-submit"]`)
	remember.waitText(`[data-testid="greeting"]`, "Hi alice!")
	c := remember.sessionCookie()
	exp := time.Unix(int64(c.Expires), 0)
	if c.Session || time.Until(exp) < auth.DefaultSessionLifetime-time.Hour {
		t.Fatalf("ticked: got session=%t expires=%s, want about %s from now", c.Session, exp, auth.DefaultSessionLifetime)
	}
}

// Sudo: after REAUTH_TIMEOUT a sensitive page sends the user to confirm
// their password, then back to the page.
func TestBrowserSudo(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	u := a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.expectStatus(422)
	b.loginAs("alice", "correct horse battery")
	if err := a.db.Model(&models.Session{}).Where("user_id = ?", u.ID).
		Update("reauth_at", time.Now().UTC().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	b.open(passwordChangePath)
	b.waitPath(reauthPath + "?next=" + url.QueryEscape(passwordChangePath))
	b.waitUntil("htmx to load", "window.htmx")
	b.typeInto("id_password", "not it")
	b.submitInPlace("#reauth-form")
	b.waitUntil("an error under the password", `document.querySelector("#id_password-msg .error")?.textContent.trim()`)
	b.typeInto("id_password", "correct horse battery")
	b.click(`[data-testid=reauth-submit]`)
	b.waitPath(passwordChangePath)
	b.waitFor(`[data-testid="password-change-confirmed"]`) // confirmed once: no old password asked again
}

// E-mail change through the real SMTP server: the link goes to the new
// address, the old is told, the confirm page's button makes the change.
func TestBrowserEmailChange(t *testing.T) {
	t.Parallel()
	a := newApp(t, withMail())
	a.createUser(t, "alice", "alice@example.com", "correct horse battery")
	b := newTab(t, a)
	b.loginAs("alice", "correct horse battery")
	b.open(emailPath)
	b.typeInto("id_email", "alice.new@example.com")
	b.click(`[data-testid=email-change-submit]`)
	b.waitUntil("the sent message", `document.querySelector("[data-testid=flash]")?.textContent.includes("alice.new@example.com")`)

	var link string
	told := false
	for range 2 {
		m := a.mail.Next(t, 20*time.Second)
		switch m.To[0] {
		case "alice.new@example.com":
			link = linkTo(t, m.Text, "/accounts/confirm-email/")
		case "alice@example.com":
			told = strings.Contains(m.Text, "alice.new@example.com")
		}
	}
	if link == "" || !told {
		t.Fatalf("got link %q, old address told %t; want both", link, told)
	}
	b.do("follow the link", chromedp.Navigate(link))
	b.waitText(`[data-testid=confirm-address]`, "alice.new@example.com")
	b.open(profilePath)
	if got := b.text(`[data-testid=profile-email]`); got != "alice@example.com" {
		t.Fatalf("opening the link changed the address to %q", got)
	}
	b.do("follow the link again", chromedp.Navigate(link))
	b.click(`[data-testid=confirm-email-submit]`)
	b.waitPath(profilePath)
	b.waitText(`[data-testid=profile-email]`, "alice.new@example.com")
}
