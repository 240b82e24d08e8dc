package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

// Usable by clicking: states that used to leave people stuck or typing a
// URL.

// TestInactiveAccountIsToldAfterTheRightPassword: a deactivated account
// signing in with the right password gets the "account inactive" page
// (no session); a wrong password still gets the one generic error, so the
// page tells a guesser nothing.
func TestInactiveAccountIsToldAfterTheRightPassword(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "bob", "bob@example.com", "correct-horse-battery")
	if err := ts.db.Model(u).Update("is_active", false).Error; err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	res := c.postForm("/accounts/login/", url.Values{"username": {"bob"}, "password": {"correct-horse-battery"}})
	wantStatus(t, res, http.StatusForbidden)
	if res.doc(t).Find(`[data-testid="account-inactive"]`).Length() != 1 {
		t.Fatalf("no inactive page: %.1500s", res.body)
	}
	if ts.sessionCount(t, u.ID) != 0 || c.sessionCookie() != "" {
		t.Fatal("an inactive account got a session")
	}
	res = c.postForm("/accounts/login/", url.Values{"username": {"bob"}, "password": {"wrong"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if strings.Contains(res.body, "account-inactive") {
		t.Fatal("a wrong password revealed that the account is inactive")
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventLoginFailed {
		t.Fatalf("got last event %q, want the failed login recorded", e.Kind)
	}
}

// TestRecoveryCodeMessageLinksToNewCodes: after signing in with a recovery
// code the message links to the recovery-codes page, and that page links
// back (no dead end), with the account navigation.
func TestRecoveryCodeMessageLinksToNewCodes(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	_, codes := activateTOTP(t, c)
	b := ts.client(t)
	passwordStep(t, b, "alice", "correct horse battery", nil)
	wantRedirect(t, b.postForm(secondStepURL, url.Values{"code": {codes[0]}}), "/")
	home := b.get("/")
	link, _ := home.doc(t).Find(`[data-testid="flash-link"]`).Attr("href")
	if link != "/accounts/2fa/recovery-codes/" {
		t.Fatalf("the recovery-code message links to %q: %.1500s", link, home.body)
	}
	page := b.get(link)
	wantStatus(t, page, http.StatusOK)
	doc := page.doc(t)
	if doc.Find(`[data-testid="account-nav"]`).Length() != 1 || doc.Find(`a[href="/accounts/2fa/"]`).Length() == 0 {
		t.Fatalf("the recovery-codes page is a dead end: %.1500s", page.body)
	}
}

// TestEndPagesHaveAWayOn: the pages a flow ends on (reset sent, account
// deleted) link onward, so nobody has to type a URL.
func TestEndPagesHaveAWayOn(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/accounts/password_reset/done/", []string{"/accounts/login/", "/"}},
		{"/accounts/deleted/", []string{"/", "/accounts/signup/"}},
	} {
		res := c.get(tc.path)
		wantStatus(t, res, http.StatusOK)
		doc := res.doc(t)
		for _, href := range tc.want {
			if doc.Find(`main a[href="`+href+`"]`).Length() == 0 {
				t.Errorf("%s has no link to %s: %.1500s", tc.path, href, res.body)
			}
		}
	}
}

// TestOneVerbForSigningIn: the pages say "Sign in" and "Sign out", never
// "Log in" or "Log out".
func TestOneVerbForSigningIn(t *testing.T) {
	ts := newTestServer(t)
	guest := ts.client(t)
	user, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	for _, res := range []*response{guest.get("/"), guest.get("/accounts/login/"), guest.get("/accounts/signup/"),
		user.get("/"), user.get("/accounts/profile/"), user.get("/accounts/sessions/")} {
		wantStatus(t, res, http.StatusOK)
		text := res.doc(t).Text()
		for _, old := range []string{"Log in", "Log out", "log in", "log out", "Last login", "logged out"} {
			if strings.Contains(text, old) {
				t.Errorf("%s says %q", res.Request.URL.Path, old)
			}
		}
	}
	if got := guest.get("/accounts/login/").text(t, "h1"); got != "Sign in" {
		t.Errorf("login page heading %q", got)
	}
}

// TestSignedUpProfileHasSignedIn: signing up signs in, so the profile
// never says "Last sign-in: never" to someone signed in.
func TestSignedUpProfileHasSignedIn(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	wantStatus(t, c.postForm("/accounts/signup/", signupValues("alice", "alice@example.com", "correct horse battery", "correct horse battery")), http.StatusSeeOther)
	res := c.get("/accounts/profile/")
	wantStatus(t, res, http.StatusOK)
	if got := res.text(t, `[data-testid="profile-last-login"]`); got == "" || got == "never" {
		t.Fatalf("last sign-in %q while signed in", got)
	}
}

// TestSessionsSayWhatHappened: signing a session out names the browser;
// with one session there is no "Sign out everywhere else", the page says
// it is the only one (on the account page and the admin's own page).
func TestSessionsSayWhatHappened(t *testing.T) {
	ts := newTestServer(t)
	admin, adminUser := ts.createAdmin(t, "root", true, true)
	res := admin.get("/accounts/sessions/")
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	if doc.Find(`[data-testid="sessions-revoke-others"]`).Length() != 0 || doc.Find(`[data-testid="sessions-only-this"]`).Length() != 1 {
		t.Fatalf("one session: %.2000s", res.body)
	}
	own := admin.get("/admin/users/" + strconv.Itoa(int(adminUser.ID)) + "/")
	if own.doc(t).Find(`[data-testid="sessions-revoke-all"]`).Length() != 0 {
		t.Fatalf("the admin's own page offers to sign out everywhere else with one session")
	}

	phone := ts.clientFrom(t, "203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	phone.login("root", adminPW)
	res = admin.get("/accounts/sessions/")
	if res.doc(t).Find(`[data-testid="sessions-revoke-others"]`).Length() != 1 {
		t.Fatalf("two sessions but no sign out everywhere else: %.2000s", res.body)
	}
	sid, _ := res.doc(t).Find(`[data-testid="own-session-row"]:not(:has([data-testid="session-current"]))`).Attr("data-session")
	wantRedirect(t, admin.postForm("/accounts/sessions/"+sid+"/revoke/", nil), "/accounts/sessions/")
	if got := admin.get("/accounts/sessions/").text(t, `[data-testid="flash"]`); !strings.Contains(got, "Signed out Firefox") || !strings.Contains(got, "Linux") {
		t.Fatalf("flash %q, want the browser named", got)
	}
}

// TestAdminUserPageInWords: the admin's user page names browsers and the
// two-factor state in words, and the event list counts with a plural.
func TestAdminUserPageInWords(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	admin, _ := ts.createAdmin(t, "root", true, true)
	bob := ts.createUser(t, "bob", "bob@example.com", "correct horse battery")
	phone := ts.clientFrom(t, "203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	phone.login("bob", "correct horse battery")
	page := "/admin/users/" + strconv.Itoa(int(bob.ID)) + "/"
	res := admin.get(page)
	wantStatus(t, res, http.StatusOK)
	if got := res.text(t, `[data-testid="session-browser"]`); got != "Firefox 133 on Linux" {
		t.Errorf("browser %q, want words", got)
	}
	if got := res.text(t, `[data-testid="admin-mfa-status"]`); got != "Off" {
		t.Errorf("two-factor %q, want Off", got)
	}
	activateTOTP(t, phone)
	if got := admin.get(page).text(t, `[data-testid="admin-mfa-status"]`); !strings.HasPrefix(got, "On: authenticator app, 10 recovery codes left") {
		t.Errorf("two-factor %q", got)
	}
	if got := admin.get("/admin/events/?user="+strconv.Itoa(int(bob.ID))).text(t, `[data-testid="event-count"]`); strings.Contains(got, "(s)") || !strings.HasSuffix(got, "events.") && got != "1 event." {
		t.Errorf("event count %q", got)
	}
}

// TestEmailPageStates: an unconfirmed address's page offers the link once
// (no banner repeating it, nor on the confirm page itself); a requested
// change stays on the page as "Pending" until its link is used or voided,
// and a voided link's page gives the password reset as a reason.
func TestEmailPageStates(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	c := ts.client(t)
	wantRedirect(t, c.postForm("/accounts/signup/", signupForm("newbie")), "/")
	link := confirmPath(t, srv.Next(t, 10*time.Second))
	page := c.get("/accounts/email/")
	wantStatus(t, page, http.StatusOK)
	doc := page.doc(t)
	if doc.Find(`[data-testid="verify-banner"]`).Length() != 0 || doc.Find(`[data-testid="email-resend"]`).Length() != 1 {
		t.Fatalf("the e-mail page should offer the link once: %.2500s", page.body)
	}
	if c.get("/accounts/profile/").doc(t).Find(`[data-testid="verify-banner"]`).Length() != 1 {
		t.Fatal("no banner elsewhere")
	}
	if c.get(link).doc(t).Find(`[data-testid="verify-banner"]`).Length() != 0 {
		t.Fatal("the confirm page repeats the banner asking to open it")
	}
	wantRedirect(t, c.postForm(link, nil), "/accounts/profile/")

	if c.get("/accounts/email/").doc(t).Find(`[data-testid="email-pending"]`).Length() != 0 {
		t.Fatal("pending shown before any request")
	}
	wantRedirect(t, c.postForm("/accounts/email/", url.Values{"email": {"moved@example.com"}}), "/accounts/email/")
	if got := c.get("/accounts/email/").text(t, `[data-testid="email-pending-address"]`); got != "moved@example.com" {
		t.Fatalf("pending %q right after the request", got)
	}
	changeLink := ""
	for _, m := range nextMails(t, srv, 2) {
		if m.To[0] == "moved@example.com" {
			changeLink = confirmPath(t, m)
		}
	}
	// The mail arrives a moment before the worker marks its row sent; the
	// page says until when the link works once it has.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page = c.get("/accounts/email/")
		got := page.text(t, `[data-testid="email-pending-address"]`)
		if got == "moved@example.com" && strings.Contains(page.text(t, `[data-testid="email-pending"]`), "works until") {
			break
		}
		if got != "moved@example.com" || time.Now().After(deadline) {
			t.Fatalf("pending after the mail went: %.2500s", page.body)
		}
	}
	// A password reset voids the link: no longer pending, and the link's
	// page says why it may have stopped working.
	u, err := ts.users.ByUsername(t.Context(), "newbie")
	if err != nil {
		t.Fatal(err)
	}
	reset := ts.client(t)
	wantRedirect(t, reset.get("/accounts/reset/"+ts.issueReset(t, u.ID, time.Hour)+"/"), "/accounts/reset/set-password/")
	wantRedirect(t, reset.postForm("/accounts/reset/set-password/", url.Values{"new_password1": {"a brand new passphrase"}, "new_password2": {"a brand new passphrase"}}), "/accounts/reset/done/")
	c.login("newbie", "a brand new passphrase")
	if c.get("/accounts/email/").doc(t).Find(`[data-testid="email-pending"]`).Length() != 0 {
		t.Fatal("still pending after a reset voided the link")
	}
	voided := c.get(changeLink)
	wantStatus(t, voided, http.StatusBadRequest)
	if !strings.Contains(voided.text(t, `[data-testid="invalid-email-link"]`), "password change or reset cancels") {
		t.Fatalf("no reason on the voided link's page: %.1500s", voided.body)
	}
}

// TestPasswordChangeWithinSudoAsksOnce: right after "Confirm it's you"
// (sudo) the password page does not ask for the old password again; the
// use case lets an empty old password through only when the session's
// confirmation is recent, checked in the write's transaction, so without
// fresh sudo the old password is still required.
func TestPasswordChangeWithinSudoAsksOnce(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "sudoer", "correct horse battery")
	page := c.get("/accounts/password_change/")
	wantStatus(t, page, http.StatusOK)
	doc := page.doc(t)
	if doc.Find(`#id_old_password`).Length() != 0 || doc.Find(`[data-testid="password-change-confirmed"]`).Length() != 1 {
		t.Fatalf("within sudo the old password is asked again: %.2000s", page.body)
	}
	wantRedirect(t, c.postForm("/accounts/password_change/", url.Values{"new_password1": {"a fresh long password"}, "new_password2": {"a fresh long password"}}), "/accounts/profile/")
	ts.client(t).login("sudoer", "a fresh long password")

	// The confirmation runs out: the page sends to "Confirm it's you" and
	// nothing changes.
	stale := time.Now().UTC().Add(-time.Hour)
	if err := ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).Update("reauth_at", stale).Error; err != nil {
		t.Fatal(err)
	}
	res := c.postForm("/accounts/password_change/", url.Values{"new_password1": {"yet another password"}, "new_password2": {"yet another password"}})
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/accounts/reauthenticate/") {
		t.Fatalf("stale sudo: redirected to %q", loc)
	}

	// The use case itself: an empty old password with a stale
	// confirmation is refused in the transaction; without ConfirmedWithin
	// it is a required field, as before.
	var sid string
	if err := ts.db.Model(&models.Session{}).Where("user_id = ?", u.ID).Order("created_at DESC").Limit(1).Pluck("id", &sid).Error; err != nil || sid == "" {
		t.Fatalf("session: %q %v", sid, err)
	}
	fresh, err := ts.users.ByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	in := auth.ChangePasswordInput{User: &fresh.SessionUser, SessionID: sid, IP: "192.0.2.1", New1: "yet another password", New2: "yet another password", ConfirmedWithin: 10 * time.Minute}
	if _, err := ts.app.core.Accounts.ChangePassword(t.Context(), in); !errors.Is(err, auth.ErrReauthRequired) {
		t.Fatalf("stale confirmation: got %v, want ErrReauthRequired", err)
	}
	in.ConfirmedWithin = 0
	var verr *models.ValidationError
	if _, err := ts.app.core.Accounts.ChangePassword(t.Context(), in); !errors.As(err, &verr) {
		t.Fatalf("no confirmation window: got %v, want the old password required", err)
	}
	ts.client(t).login("sudoer", "a fresh long password") // unchanged
	// A fresh confirmation lets it through.
	if err := ts.db.Model(&models.Session{}).Where("id = ?", sid).Update("reauth_at", time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	in.ConfirmedWithin = 10 * time.Minute
	if _, err := ts.app.core.Accounts.ChangePassword(t.Context(), in); err != nil {
		t.Fatalf("fresh confirmation: %v", err)
	}
	ts.client(t).login("sudoer", "yet another password")
}

// TestAdminEventsHaveFilters: All events has its own filter form (kind,
// period, address) whose GET filters the list, and the overview's top
// lists say that they count blocked sign-ins too.
func TestAdminEventsHaveFilters(t *testing.T) {
	ts := newTestServer(t)
	admin, _ := ts.createAdmin(t, "root", true, true)
	ts.createUser(t, "bob", "bob@example.com", "correct horse battery")
	wantStatus(t, ts.client(t).postForm("/accounts/login/", url.Values{"username": {"bob"}, "password": {"wrong"}}), http.StatusUnprocessableEntity)
	res := admin.get("/admin/events/")
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	form := doc.Find(`[data-testid="event-filter-form"]`)
	if form.Length() != 1 || form.Find(`select[name="kind"] option[value="login_failed"]`).Length() != 1 ||
		form.Find(`select[name="since"]`).Length() != 1 || form.Find(`input[name="ip"]`).Length() != 1 {
		t.Fatalf("no filter form: %.2000s", res.body)
	}
	filtered := admin.get("/admin/events/?kind=login_failed&since=24h&ip=")
	wantStatus(t, filtered, http.StatusOK)
	fd := filtered.doc(t)
	if n := fd.Find(`[data-testid="event-row"]`).Length(); n != 1 || fd.Find(`[data-testid="event-row"][data-kind="login_failed"]`).Length() != 1 {
		t.Fatalf("filtered list has %d rows: %.2000s", n, filtered.body)
	}
	if v, _ := fd.Find(`select[name="kind"] option[selected]`).Attr("value"); v != "login_failed" {
		t.Errorf("the form forgot the kind: %q", v)
	}
	if got := admin.get("/admin/").text(t, `[data-testid="top-24h-accounts"] [data-testid="top-note"]`); !strings.Contains(got, "blocked") {
		t.Errorf("most attacked accounts note %q", got)
	}
}
