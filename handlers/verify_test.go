package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

func signupForm(username string) url.Values {
	return url.Values{"username": {username}, "email": {username + "@example.com"},
		"password1": {"a long enough password"}, "password2": {"a long enough password"}}
}

// TestEmailVerificationOptional: sign-up mails a link and signs in; a
// banner (and the hub) say the address is unconfirmed until the confirm
// page is POSTed; "send again" is limited per account.
func TestEmailVerificationOptional(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, func(c *Config) { c.PasswordResetLimitPerEmail = models.Limit{Max: 2, Window: time.Hour} })
	c := ts.client(t)
	wantRedirect(t, c.postForm("/accounts/signup/", signupForm("newbie")), "/")
	m := srv.Next(t, 10*time.Second)
	if m.To[0] != "newbie@example.com" {
		t.Fatalf("got mail to %v", m.To)
	}
	link := confirmPath(t, m)
	prof := c.get("/accounts/profile/")
	if prof.doc(t).Find("[data-testid=verify-banner]").Length() != 1 {
		t.Fatal("no banner for an unconfirmed address")
	}
	if got := prof.text(t, "[data-testid=profile-email-state]"); got != "not verified" {
		t.Fatalf("got state %q, want not verified", got)
	}
	// Send again: once more within the limit (the sign-up mail did not
	// count), then refused.
	wantRedirect(t, c.postForm("/accounts/email/send-verification/", nil), "/accounts/profile/")
	again := confirmPath(t, srv.Next(t, 10*time.Second))
	wantRedirect(t, c.postForm("/accounts/email/send-verification/", nil), "/accounts/profile/")
	_ = srv.Next(t, 10*time.Second)
	res := c.postForm("/accounts/email/send-verification/", nil)
	wantRedirect(t, res, "/accounts/profile/")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("over the limit: no Retry-After")
	}
	srv.None(t, 300*time.Millisecond)

	page := c.get(link)
	wantStatus(t, page, http.StatusOK)
	if got := page.text(t, "[data-testid=confirm-address]"); got != "newbie@example.com" {
		t.Fatalf("got %q", got)
	}
	wantRedirect(t, c.postForm(link, nil), "/accounts/profile/")
	prof = c.get("/accounts/profile/")
	if prof.doc(t).Find("[data-testid=verify-banner]").Length() != 0 {
		t.Fatal("banner still shown after confirming")
	}
	if got := prof.text(t, "[data-testid=profile-email-state]"); got != "verified" {
		t.Fatalf("got state %q, want verified", got)
	}
	// The other link still works once but changes nothing further.
	wantRedirect(t, c.postForm(again, nil), "/accounts/profile/")
	wantStatus(t, c.postForm(again, nil), http.StatusBadRequest)
}

// TestEmailVerificationMandatory: nobody signs in before confirming;
// logging in mails a new link (limited); the link confirms in any browser.
func TestEmailVerificationMandatory(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, func(c *Config) { c.EmailVerification = auth.VerifyMandatory })
	c := ts.client(t)
	res := c.postForm("/accounts/signup/", signupForm("strict"))
	wantRedirect(t, res, "/accounts/login/")
	if !strings.Contains(flashText(t, c.get("/accounts/login/")), "strict@example.com") {
		t.Fatal("sign-up does not say where the link went")
	}
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	first := confirmPath(t, srv.Next(t, 10*time.Second))

	login := url.Values{"username": {"strict"}, "password": {"a long enough password"}}
	res = c.postForm("/accounts/login/", login)
	wantStatus(t, res, http.StatusForbidden)
	if !strings.Contains(res.body, unverifiedLoginError) {
		t.Fatalf("want the unconfirmed message; body %.500s", res.body)
	}
	res = c.htmxPost("/accounts/login/", login)
	wantStatus(t, res, http.StatusForbidden)
	if res.doc(t).Find("form#login-form").Length() != 1 || strings.Contains(res.body, "<html") {
		t.Fatal("htmx: want the login form alone")
	}
	_ = srv.Next(t, 10*time.Second) // one new link per login, within the limit
	_ = srv.Next(t, 10*time.Second)
	wantRedirect(t, c.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	wrong := c.postForm("/accounts/login/", url.Values{"username": {"strict"}, "password": {"wrong password"}})
	wantStatus(t, wrong, http.StatusUnprocessableEntity)
	if strings.Contains(wrong.body, unverifiedLoginError) {
		t.Fatal("a wrong password learns the address state")
	}

	other := ts.client(t)
	wantRedirect(t, other.postForm(first, nil), "/accounts/login/")
	c.login("strict", "a long enough password")
	wantStatus(t, c.get("/accounts/profile/"), http.StatusOK)
}

// TestEmailVerificationNone: no mail, no banner, no state shown.
func TestEmailVerificationNone(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, func(c *Config) { c.EmailVerification = auth.VerifyNone })
	c := ts.client(t)
	wantRedirect(t, c.postForm("/accounts/signup/", signupForm("relaxed")), "/")
	srv.None(t, 300*time.Millisecond)
	prof := c.get("/accounts/profile/")
	if prof.doc(t).Find("[data-testid=verify-banner], [data-testid=profile-email-state]").Length() != 0 {
		t.Fatal("verification shown with EMAIL_VERIFICATION=none")
	}
}

// TestAdminEmailVerified: staff see the state and may set it for users
// they may manage; not for a superuser.
func TestAdminEmailVerified(t *testing.T) {
	ts := newTestServer(t)
	staff, _ := ts.createAdmin(t, "staffer", true, false)
	_, root := ts.createAdmin(t, "root", true, true)
	target := ts.createUser(t, "plain", "plain@example.com", "plain's long password")
	path := adminUserURL(target.ID)
	if got := staff.get(path).text(t, "[data-testid=admin-email-verified] .badge"); got != "verified" {
		t.Fatalf("got %q, want verified", got)
	}
	wantRedirect(t, staff.postForm(path+"email-verified/", url.Values{"email_verified": {"off"}}), path)
	if u := reload(t, ts, target.ID); u.EmailVerified {
		t.Fatal("still verified")
	}
	if got := staff.get(path).text(t, "[data-testid=admin-email-verified] .badge"); got != "not verified" {
		t.Fatalf("got %q, want not verified", got)
	}
	wantStatus(t, staff.postForm(adminUserURL(root.ID)+"email-verified/", url.Values{"email_verified": {"off"}}), http.StatusForbidden)
	if u := reload(t, ts, root.ID); !u.EmailVerified {
		t.Fatal("staff changed a superuser's state")
	}
}
