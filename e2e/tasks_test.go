package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/models"
)

// The ten everyday tasks of issue 31, done as a person would: starting at
// "/" and only clicking links and buttons (typing only into form fields;
// a mailed link is followed as from the mail), at 1200 and at 375 CSS
// pixels. Every step is kept as a screenshot: in $E2E_SCREENSHOTS when
// set, else in the test's temporary directory. At both widths the key
// columns and actions of the pages on the way must lie inside the
// viewport, never in a box that scrolls sideways.

// taskWidths are the two screens: a laptop and a small phone.
var taskWidths = []int{1200, phoneWidth}

// skipSlowLocally skips the group under -short, except in CI (CI=true
// always runs everything).
func skipSlowLocally(t *testing.T) {
	t.Helper()
	if testing.Short() && !inCI() {
		t.Skip("slow browser group: skipped with -short outside CI")
	}
}

// eachWidth runs task at both widths, each on its own app and tab.
func eachWidth(t *testing.T, newTaskApp func(t *testing.T) *app, task func(t *testing.T, a *app, b *tab)) {
	t.Helper()
	skipSlowLocally(t)
	t.Parallel()
	for _, w := range taskWidths {
		t.Run(fmt.Sprintf("%dpx", w), func(t *testing.T) {
			t.Parallel()
			a := newTaskApp(t)
			b := newTab(t, a)
			if w == phoneWidth {
				b.do("emulate a phone", chromedp.EmulateViewport(int64(w), 740, chromedp.EmulateMobile))
			} else {
				b.do("emulate a laptop", chromedp.EmulateViewport(int64(w), 900))
			}
			task(t, a, b)
		})
	}
}

// taskShotDir is where the tasks' screenshots go.
func taskShotDir(t *testing.T) string {
	if d := os.Getenv("E2E_SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// shot keeps a full-page screenshot of the current page, named after the
// test and step.
func (b *tab) shot(step string) {
	b.t.Helper()
	// A page still loading (or laid out at zero width on a loaded
	// machine) cannot be captured.
	b.waitUntil("the page to be laid out for "+step, "document.readyState === 'complete' && document.documentElement.clientWidth > 0")
	dir := b.shotDir()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", step, err)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(b.t.Name()+"-"+step, "_") + ".png"
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}

// shotDir picks the directory once per tab.
func (b *tab) shotDir() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shots == "" {
		b.shots = taskShotDir(b.t)
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			b.t.Fatalf("screenshots: %v", err)
		}
	}
	return b.shots
}

// clickText clicks the visible link or button whose text is text (the
// first one), as a person picks what they read.
func (b *tab) clickText(text string) {
	b.t.Helper()
	// Found and marked in one evaluation, and clicked; all of it again
	// when the mark is gone before the click (the page it was found on
	// was still being replaced by the one a previous click loads, and
	// both may hold the text).
	mark := `(() => {
		document.querySelectorAll("[data-e2e-click]").forEach(e => e.removeAttribute("data-e2e-click"));
		const el = [...document.querySelectorAll("a, button")].find(e => e.textContent.trim() === ` + js(text) + ` && e.getClientRects().length);
		if (!el) return false;
		el.setAttribute("data-e2e-click", "");
		return true;
	})()`
	for deadline := time.Now().Add(actionTimeout); ; {
		b.waitUntil("a link or button saying "+text, mark)
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-e2e-click]`)), chromedp.Click(chromedp.CSS(`[data-e2e-click]`)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("click the link or button saying %s: %v", text, err)
		}
	}
}

// keysInView fails the test unless every element matching each selector
// is shown, inside the viewport's width, and not cut off by a box that
// scrolls sideways: the key columns and actions a person needs.
func (b *tab) keysInView(sels ...string) {
	b.t.Helper()
	// The page may still be loading after its path changed.
	b.waitUntil("the page to load with "+strings.Join(sels, ", "), `document.readyState === "complete" && `+
		jsList(sels)+`.every(s => document.querySelector(s))`)
	bad := eval[[]string](b, `((sels) => {
		const bad = [];
		const W = document.documentElement.clientWidth;
		for (const s of sels) {
			const els = document.querySelectorAll(s);
			if (!els.length) bad.push(s + ": not on the page");
			for (const el of els) {
				const r = el.getBoundingClientRect();
				if (!el.getClientRects().length) { bad.push(s + ": not shown"); continue; }
				if (r.left < -0.5 || r.right > W + 0.5) bad.push(s + ": at " + Math.round(r.left) + "–" + Math.round(r.right) + " of " + W + " px");
				for (let p = el.parentElement; p; p = p.parentElement) {
					const o = getComputedStyle(p).overflowX;
					if (o === "visible") continue;
					const pr = p.getBoundingClientRect();
					if (r.right > pr.right + 0.5 || r.left < pr.left - 0.5) bad.push(s + ": cut off by " + p.tagName.toLowerCase() + "." + p.className);
				}
			}
		}
		return bad;
	})(`+jsList(sels)+`)`)
	if len(bad) > 0 {
		b.shot("not-in-view")
		b.t.Errorf("%s at %d px: outside the view:\n  %s", b.path(), eval[int](b, "window.innerWidth"), strings.Join(bad, "\n  "))
	}
}

func jsList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = js(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// signInOverHTTPWants posts the login form without a browser and fails
// the test unless it answers want; a busy machine's 503 (every hashing
// slot taken) is tried again.
func signInOverHTTPWants(t *testing.T, a *app, username, password string, want int) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for try := 0; ; try++ {
		res, err := c.PostForm(a.URL+loginPath, map[string][]string{"username": {username}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == want {
			return
		}
		if res.StatusCode != http.StatusServiceUnavailable || try == 10 {
			t.Fatalf("sign in as %s over HTTP: status %d, want %d", username, res.StatusCode, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// goHome starts a task where people start: the front page.
func (b *tab) goHome() {
	b.t.Helper()
	b.open("/")
	b.waitFor(`[data-testid="greeting"]`)
}

// signInByClicking signs in from the front page's link.
func (b *tab) signInByClicking(username, password string) {
	b.t.Helper()
	b.goHome()
	b.click(`[data-testid="nav-login"]`)
	b.waitPath(loginPath)
	b.waitUntil("the login page to load", `document.readyState === "complete" && window.htmx && document.getElementById("id_username")`)
	b.login(username, password)
}

// toAccountPage opens an account page from the header's profile link and
// the account navigation.
func (b *tab) toAccountPage(navTestID string) {
	b.t.Helper()
	b.click(`[data-testid="nav-profile"]`)
	b.waitPath(profilePath)
	b.click(`[data-testid="account-nav"] [data-testid="` + navTestID + `"]`)
	b.waitUntil("the page of "+navTestID, `document.querySelector('[data-testid="account-nav"] [data-testid="`+navTestID+`"][aria-current="page"]')`)
	b.loaded()
}

// loaded waits until the page has loaded with its scripts, before typing
// into it.
func (b *tab) loaded() {
	b.t.Helper()
	b.waitUntil("the page to load", `document.readyState === "complete" && !!window.htmx`)
}

// 1. Sign up and confirm the address from the mail.
func TestTaskSignUpAndConfirm(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t, withMail()) }, func(t *testing.T, a *app, b *tab) {
		b.goHome()
		b.shot("1-home")
		b.click(`[data-testid="nav-signup"]`)
		b.waitPath(signupPath)
		b.loaded()
		b.typeInto("id_username", "newbie")
		b.typeInto("id_email", "newbie@example.com")
		b.typeInto("id_password1", "a long enough passphrase")
		b.typeInto("id_password2", "a long enough passphrase")
		b.signupChecksPassed("username", "password1", "password2")
		b.shot("2-signup")
		b.click(`[data-testid="signup-submit"]`)
		b.waitText(`[data-testid="greeting"]`, "Hi newbie!")
		link := linkTo(t, a.mail.Next(t, 20*time.Second).Text, "/accounts/confirm-email/")
		b.do("open the mailed link", chromedp.Navigate(link))
		b.waitFor(`[data-testid="confirm-email-submit"]`)
		if eval[bool](b, `!!document.querySelector('[data-testid="verify-banner"]')`) {
			t.Error("the confirm page repeats the banner asking to open it")
		}
		b.shot("3-confirm")
		b.click(`[data-testid="confirm-email-submit"]`)
		b.waitPath(profilePath)
		b.waitText(`[data-testid="profile-email-state"]`, "verified")
		if got := b.text(`[data-testid="profile-last-login"]`); got == "never" {
			t.Error("the profile says never signed in to someone signed in")
		}
		b.shot("4-profile")
	})
}

// 2 and 3. Turn on the authenticator app, keep the recovery codes, sign
// out and sign in with it.
func TestTaskAuthenticatorOnAndSignIn(t *testing.T) {
	eachWidth(t, newMFAApp, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-2fa")
		b.click(`[data-testid="totp-activate-link"]`)
		b.waitFor(`[data-testid="totp-secret"]`)
		b.shot("1-set-up")
		b.keysInView(`[data-testid="totp-secret"] span`, `[data-testid="totp-submit"]`)
		secret := b.text(`[data-testid="totp-secret"]`)
		if n := eval[int](b, `document.querySelectorAll('[data-testid="totp-secret"] span').length`); n < 2 {
			t.Errorf("the key is shown in %d group(s), want groups of four", n)
		}
		b.typeInto("id_code", codeAt(t, secret, time.Now()))
		b.click(`[data-testid="totp-submit"]`)
		b.waitFor(`[data-testid="recovery-codes"]`)
		b.keysInView(`[data-testid="recovery-codes"] code`, `[data-testid="recovery-download"]`)
		b.shot("2-codes")
		b.clickText("Done")
		b.waitFor(`[data-testid="totp-deactivate"]`)
		b.click(`[data-testid="logout"]`)
		b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
		b.signInByClicking("alice", userPassword)
		b.waitFor(`#id_code`)
		b.shot("3-second-step")
		b.typeInto("id_code", codeAt(t, secret, time.Now().Add(30*time.Second)))
		b.click(`[data-testid="2fa-submit"]`)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
	})
}

// 4. Add a passkey and sign in with it.
func TestTaskPasskey(t *testing.T) {
	eachWidth(t, newMFAApp, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		b.enableVirtualAuthenticator()
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-2fa")
		b.click(`[data-testid="passkeys-link"]`)
		b.waitFor(`#id_name`)
		b.loaded()
		b.typeInto("id_name", "Laptop")
		b.shot("1-add")
		b.click(`[data-testid="passkey-add"]`)
		b.waitFor(`[data-testid="recovery-codes"]`)
		b.clickText("Done")
		b.waitText(`[data-testid="passkey-count"]`, "1 passkey. A passkey signs you in on its own, without a password.")
		b.shot("2-overview")
		b.click(`[data-testid="logout"]`)
		b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
		b.click(`[data-testid="nav-login"]`)
		// The username field's autofill offers the passkey; the virtual
		// authenticator answers at once: signed in, nothing typed.
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.shot("3-signed-in")
	})
}

// 5. Sessions: see where you are signed in, sign one out, see it said.
func TestTaskSessions(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t) }, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		signInOverHTTPWants(t, a, "alice", userPassword, http.StatusSeeOther) // another browser
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-sessions")
		b.waitFor(`[data-testid="own-session-revoke"]`)
		b.keysInView(`[data-testid="session-browser"]`, `[data-testid="own-session-revoke"]`, `[data-testid="sessions-revoke-others"]`)
		b.shot("1-sessions")
		b.click(`[data-testid="own-session-revoke"]`)
		b.waitFor(`[data-testid="sessions-notice"]`)
		if got := b.text(`[data-testid="sessions-notice"]`); !strings.HasPrefix(got, "Signed out ") {
			t.Errorf("notice %q, want the browser named", got)
		}
		if eval[bool](b, `!!document.querySelector('[data-testid="sessions-revoke-others"]')`) {
			t.Error("Sign out everywhere else offered with nothing else signed in")
		}
		b.shot("2-signed-out")
	})
}

// 6. Change the e-mail address (a lasting pending state) and the password.
func TestTaskEmailAndPassword(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t, withMail()) }, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-email")
		b.typeInto("id_email", "alice.new@example.com")
		b.click(`[data-testid="email-change-submit"]`)
		b.waitText(`[data-testid="email-pending-address"]`, "alice.new@example.com")
		b.shot("1-email-pending")
		b.click(`[data-testid="account-nav-password"]`)
		b.waitFor(`[data-testid="password-change-confirmed"]`)
		b.loaded()
		b.typeInto("id_new_password1", "a brand new passphrase")
		b.typeInto("id_new_password2", "a brand new passphrase")
		b.shot("2-password")
		b.click(`[data-testid="password-change-submit"]`)
		b.waitPath(profilePath)
		b.waitText(`[data-testid="flash"] span`, "Your password was changed. Every other session of your account has been signed out.")
		b.shot("3-changed")
	})
}

// 7. Reset a forgotten password from the sign-in page.
func TestTaskReset(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t, withMail()) }, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		b.goHome()
		b.click(`[data-testid="nav-login"]`)
		b.clickText("Forgotten your password?")
		b.waitPath(passwordResetPath)
		b.loaded()
		b.typeInto("id_email", "alice@example.com")
		b.click(`[data-testid="password-reset-submit"]`)
		b.waitPath(passwordResetDonePath)
		b.keysInView(`[data-testid="onward-login"]`, `[data-testid="onward-home"]`)
		b.shot("1-sent")
		link := linkTo(t, a.mail.Next(t, 20*time.Second).Text, "/accounts/reset/")
		b.do("open the mailed link", chromedp.Navigate(link))
		b.waitPath(resetSetPasswordPath)
		b.typeInto("id_new_password1", "a fresh reset passphrase")
		b.typeInto("id_new_password2", "a fresh reset passphrase")
		b.click(`[data-testid="set-password-submit"]`)
		b.waitPath(resetDonePath)
		b.shot("2-done")
		b.clickText("Sign in")
		b.waitPath(loginPath)
		b.loaded()
		b.login("alice", "a fresh reset passphrase")
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
	})
}

// 8. Look at one's security activity.
func TestTaskActivity(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t) }, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		signInOverHTTPWants(t, a, "alice", "wrong password", http.StatusUnprocessableEntity)
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-activity")
		b.waitFor(`[data-testid="activity-row"]`)
		b.keysInView(`[data-testid="activity-what"]`)
		b.shot("1-activity")
	})
}

// 9. Admin: find a user, inspect them, deactivate them; see the most
// failed sign-ins.
func TestTaskAdmin(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t) }, func(t *testing.T, a *app, b *tab) {
		a.createSuperuser(t, "root", "root@example.com", adminPassword)
		bob := a.createUser(t, "bob", "bob@example.com", userPassword)
		for range 3 {
			signInOverHTTPWants(t, a, "bob", "wrong password", http.StatusUnprocessableEntity)
		}
		signInOverHTTPWants(t, a, "bob", userPassword, http.StatusSeeOther)
		b.signInByClicking("root", adminPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi root!")
		b.click(`[data-testid="nav-admin"]`)
		b.waitPath("/admin/")
		b.keysInView(`[data-testid="top-24h-accounts"] [data-testid="top-count"]`, `[data-testid="top-24h-addresses"] [data-testid="top-count"]`)
		b.shot("1-overview")
		// Most failed sign-ins: the count leads to the events behind it.
		b.click(`[data-testid="top-24h-accounts"] [data-testid="top-count"]`)
		b.waitFor(`[data-testid="event-row"]`)
		b.keysInView(`[data-testid="event-account"]`)
		b.shot("2-events")
		b.goHome()
		b.click(`[data-testid="nav-admin"]`)
		b.click(`[data-testid="admin-users-link"]`)
		b.typeInto("id_q", "bo")
		b.waitUntil("the search to narrow the list", `document.querySelectorAll('[data-testid="user-table"] tbody tr').length === 1`)
		b.keysInView(`[data-testid="user-status"]`, `[data-testid="user-joined"]`, `[data-testid="user-last-login"]`)
		b.shot("3-users")
		b.clickText("bob")
		b.waitPath(fmt.Sprintf("/admin/users/%d/", bob.ID))
		b.keysInView(`[data-testid="session-browser"]`, `[data-testid="session-revoke"]`, `[data-testid="admin-mfa-status"]`)
		if got := b.text(`[data-testid="session-browser"]`); strings.Contains(got, "Mozilla") || strings.Contains(got, "Go-http-client") {
			t.Errorf("raw browser string %q", got)
		}
		b.shot("4-user")
		// Signing the session out says which browser it was, in place.
		b.click(`[data-testid="session-revoke"]`)
		b.waitFor(`[data-testid="session-revoked"]`)
		if got := b.text(`[data-testid="session-revoked"]`); !strings.HasPrefix(got, "Signed out ") {
			t.Errorf("revoked row %q", got)
		}
		b.click(`#id_is_active`)
		b.click(`[data-testid="user-save"]`)
		b.waitFor(`[data-testid="badge-inactive"]`)
		b.shot("5-deactivated")
		var u models.User
		if err := a.db.First(&u, bob.ID).Error; err != nil || u.IsActive {
			t.Fatalf("bob: active %t, %v", u.IsActive, err)
		}
	})
}

// 10. Delete one's account and leave with somewhere to go.
func TestTaskDelete(t *testing.T) {
	eachWidth(t, func(t *testing.T) *app { return newApp(t) }, func(t *testing.T, a *app, b *tab) {
		a.createUser(t, "alice", "alice@example.com", userPassword)
		b.signInByClicking("alice", userPassword)
		b.waitText(`[data-testid="greeting"]`, "Hi alice!")
		b.toAccountPage("account-nav-delete")
		b.typeInto("id_password", userPassword)
		b.shot("1-delete")
		b.click(`[data-testid="delete-account-submit"]`)
		b.waitFor(`[data-testid="account-deleted"]`)
		b.keysInView(`[data-testid="onward-home"]`)
		b.shot("2-deleted")
		b.click(`[data-testid="onward-home"]`)
		b.waitText(`[data-testid="greeting"]`, "Welcome to Gatehouse")
		if _, err := a.users.ByUsername(context.Background(), "alice"); err == nil {
			t.Fatal("alice still exists")
		}
	})
}
