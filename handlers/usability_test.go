package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
