package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

// wrongCode is a six-digit code that is none of secret's codes near now.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	near := map[string]bool{}
	for d := int64(-3); d <= 3; d++ {
		near[totpAt(t, secret, nowStep()+d)] = true
	}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// wantNoSudo fails if c may open a sudo-guarded page.
func wantNoSudo(t *testing.T, c *testClient) {
	t.Helper()
	wantRedirect(t, c.get("/accounts/password_change/"), reauthTo("/accounts/password_change/"))
}

// TestReauthUsersWithoutSecondFactorGiveOnlyThePassword: the page asks a
// user without 2FA for the password alone, and the password alone works.
func TestReauthUsersWithoutSecondFactorGiveOnlyThePassword(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "plain", "a long enough passphrase")
	ts.ageReauth(t, u.ID)
	doc := c.get(reauthTo("/accounts/password_change/")).doc(t)
	if n := doc.Find(`#reauth-form input[name=code]`).Length(); n != 0 {
		t.Fatalf("page for a user without 2FA: got %d code fields, want none", n)
	}
	if n := doc.Find(`#passkey-reauth-form`).Length(); n != 0 {
		t.Fatal("page for a user without passkeys offers a passkey")
	}
	wantRedirect(t, c.postForm("/accounts/reauthenticate/", url.Values{"password": {"a long enough passphrase"}, "next": {"/accounts/password_change/"}}),
		"/accounts/password_change/")
	wantStatus(t, c.get("/accounts/password_change/"), http.StatusOK)
}

// TestReauthWithTOTP: a user with an authenticator app confirms with the
// password AND a code; the password alone, a wrong code, a replayed code
// and a spent recovery code give no sudo; a wrong password spends no code.
func TestReauthWithTOTP(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, codes := activateTOTP(t, c)
	ts.ageReauth(t, u.ID)
	const pw = "correct horse battery"
	next := "/accounts/password_change/"
	post := func(password, code string) *response {
		return c.postForm("/accounts/reauthenticate/", url.Values{"password": {password}, "code": {code}, "next": {next}})
	}

	t.Run("the page asks for a code", func(t *testing.T) {
		res := c.get(reauthTo(next))
		wantStatus(t, res, http.StatusOK)
		doc := res.doc(t)
		if doc.Find(`#reauth-form input[name=password]`).Length() != 1 || doc.Find(`#reauth-form input[name=code]`).Length() != 1 {
			t.Fatalf("want password and code fields; body: %.2000s", res.body)
		}
		if doc.Find(`#passkey-reauth-form`).Length() != 0 {
			t.Fatal("a user without passkeys is offered a passkey")
		}
	})
	t.Run("password only is refused", func(t *testing.T) {
		res := c.postForm("/accounts/reauthenticate/", url.Values{"password": {pw}, "next": {next}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if v, _ := res.doc(t).Find(`#reauth-form input[name=code]`).Attr("aria-invalid"); v != "true" {
			t.Fatalf("code field not marked invalid; body: %.2000s", res.body)
		}
		wantNoSudo(t, c)
	})
	t.Run("wrong code is refused and recorded, inline for htmx", func(t *testing.T) {
		res := c.htmxPost("/accounts/reauthenticate/", url.Values{"password": {pw}, "code": {wrongCode(t, secret)}, "next": {next}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if res.doc(t).Find("form#reauth-form").Length() != 1 || strings.Contains(res.body, "<html") {
			t.Fatalf("htmx: want the form fragment alone; body: %.500s", res.body)
		}
		if !strings.Contains(res.body, reauthWrongCode) {
			t.Fatalf("want the wrong-code message; body: %.1000s", res.body)
		}
		if e := ts.lastEvent(t, u.ID); e.Kind != models.EventReauthFactorFailed {
			t.Fatalf("got last event %q, want %q", e.Kind, models.EventReauthFactorFailed)
		}
		wantNoSudo(t, c)
	})
	code := totpAt(t, secret, nowStep()+1) // the activation spent this step
	t.Run("wrong password with the right code is refused and spends no code", func(t *testing.T) {
		res := post("not the password", code)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if !strings.Contains(res.body, reauthWrongPassword) {
			t.Fatalf("want the wrong-password message; body: %.1000s", res.body)
		}
		wantNoSudo(t, c)
	})
	t.Run("password and code give sudo", func(t *testing.T) {
		before := c.sessionCookie()
		wantRedirect(t, post(pw, code), next)
		if c.sessionCookie() == before {
			t.Fatal("the session token did not rotate")
		}
		if e := ts.lastEvent(t, u.ID); e.Kind != models.EventReauthenticated || e.DetailCode != string(models.DetailMethod) || e.Detail != "method="+url.QueryEscape(auth.AuthPasswordTOTP) {
			t.Fatalf("got last event %q (%q %q), want %q (method %q)", e.Kind, e.DetailCode, e.Detail, models.EventReauthenticated, auth.AuthPasswordTOTP)
		}
		wantStatus(t, c.get(next), http.StatusOK)
	})
	t.Run("a replayed code is refused", func(t *testing.T) {
		ts.ageReauth(t, u.ID)
		res := post(pw, code)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if !strings.Contains(res.body, reauthWrongCode) {
			t.Fatalf("want the wrong-code message; body: %.1000s", res.body)
		}
		wantNoSudo(t, c)
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		res := post(pw, strings.ToUpper(codes[0]))
		wantRedirect(t, res, next)
		if got := flashText(t, c.get("/")); !strings.Contains(got, "You used a recovery code; 9 left") {
			t.Fatalf("flash after a recovery code: got %q", got)
		}
		st, err := ts.app.core.Accounts.MFAStatus(t.Context(), u.ID)
		if err != nil || st.RecoveryLeft != auth.RecoveryCodeCount-1 {
			t.Fatalf("recovery codes left: got %d (%v), want %d", st.RecoveryLeft, err, auth.RecoveryCodeCount-1)
		}
		if n := userEvents(t, ts, models.EventRecoveryCodeUsed, u.ID); n != 1 {
			t.Fatalf("recovery-used events: got %d, want 1", n)
		}
		ts.ageReauth(t, u.ID)
		wantStatus(t, post(pw, codes[0]), http.StatusUnprocessableEntity)
		wantNoSudo(t, c)
		deadline := time.Now().Add(5 * time.Second) // a hang guard
		for !strings.Contains(ts.mailOut.String(), "A recovery code was used") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := strings.Count(ts.mailOut.String(), "A recovery code was used"); n == 0 {
			t.Fatalf("recovery code use not mailed: %s", ts.mailOut.String())
		}
	})
}

// TestReauthCodeBurstStaysWithinLimit: a stolen session that knows the
// password gets only the account's second-factor limit's worth of code
// checks from a parallel burst; the rest are refused before any check, and
// afterwards even the right code is refused until the block ends.
func TestReauthCodeBurstStaysWithinLimit(t *testing.T) {
	const limit = 3
	ts := newTestServer(t, withSecretKey, func(c *Config) {
		c.SecondFactorLimit = models.Limit{Max: limit, Window: time.Hour}
		c.LoginLimitPerUserIP = models.Limit{Max: 1000, Window: time.Hour} // so only the code limit counts
	})
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	ts.ageReauth(t, u.ID)
	const n = 12
	bad := wrongCode(t, secret)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			res, err := c.http.PostForm(ts.URL+"/accounts/reauthenticate/", url.Values{"password": {"correct horse battery"}, "code": {bad}})
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	checked, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusUnprocessableEntity:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("unexpected status in burst: %v", statuses)
		}
	}
	if checked != limit || refused != n-limit {
		t.Fatalf("burst of %d wrong codes: got %d checked and %d refused, want %d and %d: %v", n, checked, refused, limit, n-limit, statuses)
	}
	if got := userEvents(t, ts, models.EventReauthFactorFailed, u.ID); got != limit {
		t.Fatalf("wrong-code events: got %d, want %d", got, limit)
	}
	if got := userEvents(t, ts, models.EventSecondFactorThrottle, u.ID); got != 1 {
		t.Fatalf("block events: got %d, want 1", got)
	}
	res := c.postForm("/accounts/reauthenticate/", url.Values{"password": {"correct horse battery"}, "code": {totpAt(t, secret, nowStep()+1)}})
	wantStatus(t, res, http.StatusTooManyRequests)
	wantNoSudo(t, c)
}
