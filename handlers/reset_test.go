package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

func setValues(p1, p2 string) url.Values {
	return url.Values{"new_password1": {p1}, "new_password2": {p2}}
}

// wantInvalidLink fails unless res is the invalid-link page (400).
func wantInvalidLink(t *testing.T, res *response) {
	t.Helper()
	wantStatus(t, res, http.StatusBadRequest)
	doc := res.doc(t)
	if doc.Find("[data-testid=invalid-reset-link]").Length() != 1 {
		t.Fatalf("got %q, want the invalid-link page", res.body)
	}
	if doc.Find(`a[href="/accounts/password_reset/"]`).Length() == 0 {
		t.Fatal("invalid-link page offers no new link")
	}
}

// TestPasswordResetEndToEnd goes from the request form, through a real SMTP
// server, to the link, the new password and a login with it.
func TestPasswordResetEndToEnd(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	u := ts.createUser(t, "Frank", "Frank.Zappa@Example.COM", "old long password")
	signedIn := ts.client(t)
	signedIn.login("frank", "old long password")

	c := ts.client(t)
	wantStatus(t, c.get("/accounts/password_reset/"), http.StatusOK)
	// Another letter case than stored: matched, but mail goes to the stored address.
	res := c.postForm("/accounts/password_reset/", url.Values{"email": {"frank.zappa@EXAMPLE.com"}})
	wantRedirect(t, res, "/accounts/password_reset/done/")
	wantStatus(t, c.get("/accounts/password_reset/done/"), http.StatusOK)

	msg := smtpSrv.Next(t, 5*time.Second)
	if len(msg.To) != 1 || msg.To[0] != "Frank.Zappa@example.com" {
		t.Fatalf("got recipients %v, want the stored address [Frank.Zappa@example.com]", msg.To)
	}
	if !strings.Contains(msg.Text, "Hello Frank,") || !strings.Contains(msg.Text, "1 hour") {
		t.Errorf("text part: %q", msg.Text)
	}
	path := resetPath(t, msg)
	token := strings.TrimSuffix(strings.TrimPrefix(path, "/accounts/reset/"), "/")

	// The link hands the token to the session and leaves the address bar.
	res = c.get(path)
	wantRedirect(t, res, "/accounts/reset/set-password/")
	wantStatus(t, c.get("/accounts/reset/set-password/"), http.StatusOK)
	res = c.postForm("/accounts/reset/set-password/", setValues("a brand new password", "a brand new passw0rd"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = c.postForm("/accounts/reset/set-password/", setValues("1234567890", "1234567890"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = c.postForm("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password"))
	wantRedirect(t, res, "/accounts/reset/done/")
	wantStatus(t, c.get("/accounts/reset/done/"), http.StatusOK)

	// Every session of the user ended; the new password works, the old not.
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Errorf("got %d sessions of the user after reset, want 0", n)
	}
	if res := signedIn.get("/accounts/profile/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("old session still signed in: status %d", res.StatusCode)
	}
	wantStatus(t, ts.client(t).postForm("/accounts/login/", url.Values{"username": {"frank"}, "password": {"old long password"}}), http.StatusUnprocessableEntity)
	ts.client(t).login("frank", "a brand new password")

	// The link works once.
	wantInvalidLink(t, ts.client(t).get(path))
	wantInvalidLink(t, c.get(path))
	wantInvalidLink(t, c.get("/accounts/reset/set-password/"))

	notice := smtpSrv.Next(t, 5*time.Second)
	if !strings.Contains(notice.Subject, "password was changed") {
		t.Errorf("got second mail %q, want the password-changed notice", notice.Subject)
	}
	var kinds []string
	ts.db.Model(&models.AuthEvent{}).Where("user_id = ?", u.ID).Order("id").Pluck("kind", &kinds)
	if want := []string{"login_succeeded", "password_reset_requested", "password_reset_completed", "login_failed", "login_succeeded"}; strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Errorf("got events %v, want %v", kinds, want)
	}
	if strings.Contains(ts.logs.String(), token) {
		t.Error("the token appears in the server log")
	}
	var stored []string
	ts.db.Model(&models.OneTimeToken{}).Pluck("token_hash", &stored)
	for _, s := range stored {
		if s == token {
			t.Error("the token is stored in clear")
		}
	}
}

// TestPasswordResetRevealsNothing: a known and an unknown address get the
// same status, headers that matter, and body bytes; the response leaves
// before the mail server has accepted anything, because look-up and sending
// happen in the background.
func TestPasswordResetRevealsNothing(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	ts.createUser(t, "grace", "grace@example.com", "grace's long password")
	inactive := ts.createUser(t, "henry", "henry@example.com", "henry's long password")
	ts.db.Model(inactive).Update("is_active", false)

	smtpSrv.Hold()
	type answer struct {
		status   int
		location string
		hx       string
		body     string
	}
	ask := func(email string, htmx bool) answer {
		c := ts.client(t)
		v := url.Values{"email": {email}}
		var res *response
		if htmx {
			res = c.htmxPost("/accounts/password_reset/", v)
		} else {
			res = c.postForm("/accounts/password_reset/", v)
		}
		done := c.get("/accounts/password_reset/done/")
		return answer{res.StatusCode, res.Header.Get("Location"), res.Header.Get("HX-Redirect"), res.body + "|" + done.body}
	}
	for _, htmx := range []bool{false, true} {
		known := ask("grace@example.com", htmx)
		if got := smtpSrv.Accepted(); got != 0 {
			t.Fatalf("mail accepted (%d) before the response came back", got)
		}
		for _, other := range []string{"nobody@example.com", "henry@example.com"} {
			if got := ask(other, htmx); got != known {
				t.Errorf("htmx=%v: answer for %s differs from a known address:\n%+v\n%+v", htmx, other, got, known)
			}
		}
	}
	smtpSrv.Release()
	msg := smtpSrv.Next(t, 5*time.Second)
	if msg.To[0] != "grace@example.com" {
		t.Errorf("got mail to %v", msg.To)
	}
	// The second request for grace was throttled; nobody and inactive henry get nothing.
	smtpSrv.None(t, 300*time.Millisecond)
}

// TestPasswordResetThrottle: while a recent link is unused, a repeated
// request sends nothing; once the window passes, it sends again. (This is
// the worker's per-account rule; the per-address request limit, tested in
// quota_test.go, is off here.)
func TestPasswordResetThrottle(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, func(c *Config) {
		c.PasswordResetThrottle = 400 * time.Millisecond
		c.PasswordResetLimitPerEmail = models.Limit{Max: -1}
	})
	u := ts.createUser(t, "ida", "ida@example.com", "ida's long password")
	c := ts.client(t)
	for range 3 {
		wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"IDA@example.com"}}), "/accounts/password_reset/done/")
	}
	smtpSrv.Next(t, 5*time.Second)
	smtpSrv.None(t, 200*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"ida@example.com"}}), "/accounts/password_reset/done/")
	smtpSrv.Next(t, 5*time.Second)
	var throttled int64
	ts.db.Model(&models.AuthEvent{}).Where("user_id = ? AND kind = ? AND detail_code = ?", u.ID, models.EventResetRequested, models.DetailResetThrottled).Count(&throttled)
	if throttled != 2 {
		t.Errorf("got %d throttled events, want 2", throttled)
	}
}

func TestPasswordResetRequestValidation(t *testing.T) {
	ts := newTestServer(t)
	for _, email := range []string{"", "not-an-address", "a@b@c", strings.Repeat("a", 300) + "@example.com", "x\x00@example.com"} {
		res := ts.client(t).postForm("/accounts/password_reset/", url.Values{"email": {email}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if res.doc(t).Find("[data-testid=email-msg] .error").Length() == 0 {
			t.Errorf("email %q: no field error", email)
		}
	}
}

func TestPasswordResetExpiredLink(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "jack", "jack@example.com", "jack's long password")
	token, err := ts.app.core.Tokens.Issue(t.Context(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	wantRedirect(t, c.get("/accounts/reset/"+token+"/"), "/accounts/reset/set-password/")
	// It expires between opening the link and submitting the form.
	ts.db.Model(&models.OneTimeToken{}).Where("user_id = ?", u.ID).Update("expires_at", time.Now().UTC().Add(-time.Second))
	wantInvalidLink(t, c.postForm("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password")))
	wantInvalidLink(t, ts.client(t).get("/accounts/reset/"+token+"/"))
	ts.client(t).login("jack", "jack's long password")

	// Created already expired (a PASSWORD_RESET_TIMEOUT in the past).
	expired, err := ts.app.core.Tokens.Issue(t.Context(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: -time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalidLink(t, ts.client(t).get("/accounts/reset/"+expired+"/"))
}

func TestPasswordResetMalformedTokens(t *testing.T) {
	ts := newTestServer(t)
	valid43 := strings.Repeat("A", 43)
	for name, path := range map[string]string{
		"unknown":         "/accounts/reset/" + valid43 + "/",
		"too long":        "/accounts/reset/" + strings.Repeat("A", 5000) + "/",
		"too short":       "/accounts/reset/abc/",
		"not base64":      "/accounts/reset/" + strings.Repeat("!", 43) + "/",
		"padded base64":   "/accounts/reset/" + strings.Repeat("A", 42) + "=/",
		"nul":             "/accounts/reset/" + strings.Repeat("A", 42) + "%00/",
		"percent-encoded": "/accounts/reset/%2e%2e" + strings.Repeat("A", 41) + "/",
		"space":           "/accounts/reset/%20/",
		"empty":           "/accounts/reset//",
	} {
		t.Run(name, func(t *testing.T) {
			wantInvalidLink(t, ts.client(t).get(path))
		})
	}
	// No link opened at all.
	c := ts.client(t)
	wantInvalidLink(t, c.get("/accounts/reset/set-password/"))
	wantInvalidLink(t, c.postForm("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password")))
	// A forged hash in the session is not trusted either: only hashes of
	// live tokens pass Check, and the session is server-side.
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", ts.logs.String())
	}
}

// TestPasswordResetHTMX: the htmx form gets fragments on errors and an
// HX-Redirect on success or a dead link.
func TestPasswordResetHTMX(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "lee", "lee@example.com", "lee's long password")
	token, _ := ts.app.core.Tokens.Issue(t.Context(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
	c := ts.client(t)
	wantRedirect(t, c.get("/accounts/reset/"+token+"/"), "/accounts/reset/set-password/")
	res := c.htmxPost("/accounts/reset/set-password/", setValues("short", "short"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find("form#set-password-form").Length() != 1 || res.doc(t).Find("main#main").Length() != 0 {
		t.Fatalf("got %q, want the form fragment", res.body)
	}
	res = c.htmxPost("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password"))
	wantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("HX-Redirect"); got != "/accounts/reset/done/" {
		t.Fatalf("got HX-Redirect %q", got)
	}
	res = c.htmxPost("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password"))
	if got := res.Header.Get("HX-Redirect"); got != "/accounts/reset/set-password/" {
		t.Fatalf("dead link over htmx: got HX-Redirect %q, want the set-password page", got)
	}
	wantInvalidLink(t, c.get("/accounts/reset/set-password/"))
}

// TestPasswordResetConsoleMailer: with no SMTP server the message is printed
// (to the test's buffer), text and HTML.
func TestPasswordResetConsoleMailer(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "mia", "mia@example.com", "mia's long password")
	ts.client(t).postForm("/accounts/password_reset/", url.Values{"email": {"mia@example.com"}})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.mailOut.String(), "--- text/html ---") {
		if time.Now().After(deadline) {
			t.Fatalf("console mailer printed nothing:\n%s", ts.mailOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := ts.mailOut.String()
	if !strings.Contains(out, "To: mia@example.com") || !resetLinkRE.MatchString(out) {
		t.Errorf("console output:\n%s", out)
	}
}
