package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/auth"
	"gatehouse/models"
)

const testSecretKey = "test-secret-key-0123456789-abcdefghijklmnop"

func withSecretKey(c *Config) { c.SecretKey = testSecretKey }

// totpAt is the code of secret at time step step.
func totpAt(t *testing.T, secret string, step int64) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func nowStep() int64 { return time.Now().Unix() / 30 }

// activateTOTP sets up an authenticator app for the signed-in client and
// returns its secret and the recovery codes shown.
func activateTOTP(t *testing.T, c *testClient) (string, []string) {
	t.Helper()
	res := c.get("/accounts/2fa/totp/activate/")
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	secret := strings.TrimSpace(doc.Find(`[data-testid="totp-secret"]`).Text())
	state, _ := doc.Find(`input[name="state"]`).Attr("value")
	if src, _ := doc.Find(`[data-testid="totp-qr"]`).Attr("src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR code is not a PNG data URL: %.40q", src)
	}
	if href, _ := doc.Find(`[data-testid="totp-uri"]`).Attr("href"); !strings.HasPrefix(href, "otpauth://totp/") || !strings.Contains(href, "secret="+secret) {
		t.Fatalf("otpauth link %q does not carry the secret", href)
	}
	if secret == "" || state == "" {
		t.Fatalf("activation page lacks secret or state: %s", res.body)
	}
	// A wrong code does not turn it on.
	res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {"000000"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {totpAt(t, secret, nowStep())}})
	wantStatus(t, res, http.StatusOK)
	var codes []string
	res.doc(t).Find(`[data-testid="recovery-codes"] code`).Each(func(_ int, s *goquery.Selection) {
		codes = append(codes, strings.TrimSpace(s.Text()))
	})
	if len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("got %d recovery codes, want %d: %s", len(codes), auth.RecoveryCodeCount, res.body)
	}
	return secret, codes
}

// passwordStep logs in with a password and expects the second step.
func passwordStep(t *testing.T, c *testClient, username, password string, extra url.Values) *response {
	t.Helper()
	v := url.Values{"username": {username}, "password": {password}}
	for k, vs := range extra {
		v[k] = vs
	}
	res := c.postForm("/accounts/login/", v)
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, secondStepURL) {
		t.Fatalf("login with a second factor went to %q, want the second step", loc)
	}
	return res
}

func userEvents(t *testing.T, ts *testServer, kind models.EventKind, userID uint) int64 {
	t.Helper()
	return countEvents(t, ts, kind, "user_id = ?", userID)
}

func itoa(id uint) string { return strconv.FormatUint(uint64(id), 10) }

func TestMFANotAvailableWithoutSecretKey(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	res := c.get("/accounts/2fa/")
	wantStatus(t, res, http.StatusOK)
	if res.doc(t).Find(`[data-testid="mfa-unavailable"]`).Length() != 1 {
		t.Fatalf("overview does not say 2FA is unavailable: %s", res.body)
	}
	wantRedirect(t, c.get("/accounts/2fa/totp/activate/"), "/accounts/2fa/")
	// The login page's passkey options say "not available".
	res = ts.client(t).get("/accounts/2fa/webauthn/login/options/")
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.body, `"available":false`) {
		t.Fatalf("options without SECRET_KEY: %s", res.body)
	}
}

func TestTOTPActivationLoginPendingAndReuse(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	if n := userEvents(t, ts, models.EventFactorAdded, u.ID); n != 1 {
		t.Fatalf("factor-added events: %d", n)
	}
	// The secret is stored sealed, never in clear.
	var row models.Authenticator
	if err := ts.db.Where("user_id = ? AND kind = ?", u.ID, models.FactorTOTP).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row.Secret, secret) || row.Secret == "" {
		t.Fatalf("TOTP secret stored in clear: %q", row.Secret)
	}

	// A fresh browser: the password alone leaves the session pending.
	b := ts.client(t)
	res := passwordStep(t, b, "alice", "correct horse battery", url.Values{"next": {"/accounts/password_change/"}})
	if loc := res.Header.Get("Location"); loc != secondStepURL+"?next=%2Faccounts%2Fpassword_change%2F" {
		t.Fatalf("second step location %q lost next", loc)
	}
	if ts.sessionCount(t, u.ID) != 1 { // only the first browser's
		t.Fatalf("pending login created a signed-in session")
	}
	// Pending is not signed in: every protected page still redirects.
	for _, p := range []string{"/accounts/profile/", "/accounts/password_change/", "/accounts/2fa/", "/admin/", "/accounts/2fa/webauthn/"} {
		res := b.get(p)
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/accounts/login/") {
			t.Fatalf("pending session reached %s (Location %q)", p, loc)
		}
	}
	for _, p := range []string{"/accounts/2fa/totp/deactivate/", "/accounts/2fa/recovery-codes/generate/", "/accounts/password_change/"} {
		res := b.postForm(p, url.Values{})
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/accounts/login/") {
			t.Fatalf("pending session POST %s: %d %q", p, res.StatusCode, loc)
		}
	}
	wantStatus(t, b.get(secondStepURL), http.StatusOK)

	// The code used to activate (this step) cannot sign in; the next
	// step's code can (±1 step of drift).
	used := totpAt(t, secret, nowStep())
	res = b.postForm(secondStepURL, url.Values{"code": {used}, "next": {"/accounts/password_change/"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		// The step may have ticked over since activation; then the old
		// code is from the previous step, still ≤ the last used step.
		t.Fatalf("the activation code signed in again: %d", res.StatusCode)
	}
	next := totpAt(t, secret, nowStep()+1)
	res = b.postForm(secondStepURL, url.Values{"code": {next}, "next": {"/accounts/password_change/"}})
	wantRedirect(t, res, "/accounts/password_change/")
	wantStatus(t, b.get("/accounts/profile/"), http.StatusOK)
	if ts.sessionCount(t, u.ID) != 2 {
		t.Fatalf("second step did not sign in")
	}
	var sess models.Session
	if err := ts.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&sess).Error; err != nil {
		t.Fatal(err)
	}
	if sess.AuthMethod != auth.AuthPasswordTOTP {
		t.Fatalf("auth method %q", sess.AuthMethod)
	}

	// A third browser: the same code is refused (its step is used).
	c3 := ts.client(t)
	passwordStep(t, c3, "alice", "correct horse battery", nil)
	wantStatus(t, c3.postForm(secondStepURL, url.Values{"code": {next}}), http.StatusUnprocessableEntity)
	if n := userEvents(t, ts, models.EventSecondFactorFailed, u.ID); n != 2 {
		t.Fatalf("failed second-factor events: %d, want 2", n)
	}
}

func TestSecondStepRotatesAndRemembers(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	b := ts.client(t)
	passwordStep(t, b, "alice", "correct horse battery", url.Values{"remember": {"on"}})
	pending := b.sessionCookie()
	req := b.newRequest(http.MethodPost, secondStepURL, strings.NewReader(url.Values{"code": {totpAt(t, secret, nowStep()+1)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := b.do(req)
	wantRedirect(t, res, "/")
	var persistent bool
	for _, ck := range res.Cookies() {
		if ck.Name == ts.h.store.CookieName() {
			persistent = ck.MaxAge > 0
		}
	}
	if !persistent {
		t.Fatalf("remember me chosen at the password step was lost")
	}
	if b.sessionCookie() == pending {
		t.Fatalf("session not rotated when the login completed")
	}
	// The pending token is worthless now.
	old := ts.client(t)
	old.setCookie(ts.h.store.CookieName(), pending)
	wantStatus(t, old.get("/accounts/profile/"), http.StatusSeeOther)
}

func TestPendingSecondFactorExpires(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	b := ts.client(t)
	passwordStep(t, b, "alice", "correct horse battery", url.Values{"next": {"/accounts/profile/"}})
	old := time.Now().Add(-models.PendingSecondFactorLifetime - time.Second).UTC()
	if err := ts.db.Model(&models.Session{}).Where("pending_user_id = ?", u.ID).Update("pending_at", old).Error; err != nil {
		t.Fatal(err)
	}
	// The code is refused by the flow itself (the row is re-read), then
	// the page sends the visitor back to the password.
	res := b.postForm(secondStepURL, url.Values{"code": {totpAt(t, secret, nowStep()+1)}, "next": {"/accounts/profile/"}})
	wantRedirect(t, res, "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	res = b.get(secondStepURL + "?next=%2Faccounts%2Fprofile%2F")
	wantRedirect(t, res, "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	if ts.sessionCount(t, u.ID) != 1 {
		t.Fatalf("an expired pending login signed in")
	}
}

func TestSecondFactorThrottledPerAccount(t *testing.T) {
	ts := newTestServer(t, withSecretKey, trustLocalProxy)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	// Guesses from several addresses share the account's limit.
	for i := 0; i < 5; i++ {
		b := ts.clientFrom(t, "203.0.113."+string(rune('1'+i)), "test")
		passwordStep(t, b, "alice", "correct horse battery", nil)
		wantStatus(t, b.postForm(secondStepURL, url.Values{"code": {"123456"}}), http.StatusUnprocessableEntity)
	}
	b := ts.clientFrom(t, "198.51.100.7", "test")
	passwordStep(t, b, "alice", "correct horse battery", nil)
	res := b.postForm(secondStepURL, url.Values{"code": {totpAt(t, secret, nowStep()+1)}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if ts.sessionCount(t, u.ID) != 1 {
		t.Fatal("a throttled code signed in")
	}
	if n := userEvents(t, ts, models.EventSecondFactorThrottle, u.ID); n != 1 {
		t.Fatalf("throttle events: %d", n)
	}
}

func TestRecoveryCodesSingleUseUnderBurst(t *testing.T) {
	ts := newTestServer(t, withSecretKey, func(c *Config) { c.SecondFactorLimit = models.Limit{Max: 100, Window: time.Minute} })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	_, codes := activateTOTP(t, c)
	const n = 12
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = ts.client(t)
		passwordStep(t, clients[i], "alice", "correct horse battery", nil)
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range clients {
		wg.Go(func() {
			res, err := clients[i].http.PostForm(ts.URL+secondStepURL, url.Values{"code": {strings.ToUpper(codes[0])}})
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusSeeOther:
			ok++
		case http.StatusUnprocessableEntity:
		default:
			t.Fatalf("unexpected status %d in burst: %v", s, statuses)
		}
	}
	if ok != 1 {
		t.Fatalf("one recovery code signed in %d times: %v", ok, statuses)
	}
	if n := userEvents(t, ts, models.EventRecoveryCodeUsed, u.ID); n != 1 {
		t.Fatalf("recovery-used events: %d", n)
	}
	// Used once, mailed once.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.mailOut.String(), "A recovery code was used") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(ts.mailOut.String(), "A recovery code was used") || !strings.Contains(ts.mailOut.String(), "9 recovery codes are left") {
		t.Fatalf("recovery code use not mailed: %s", ts.mailOut.String())
	}
}

func TestRecoveryCodesLowWarningAndRegenerate(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	_, codes := activateTOTP(t, c)
	// Spend seven codes directly (the burst test covers the login path).
	now := time.Now().UTC()
	if err := ts.db.Model(&models.Authenticator{}).Where("id IN (?)",
		ts.db.Model(&models.Authenticator{}).Select("id").Where("user_id = ? AND kind = ?", u.ID, models.FactorRecovery).Order("id").Limit(7)).
		Update("used_at", now).Error; err != nil {
		t.Fatal(err)
	}
	res := c.get("/accounts/2fa/")
	if res.doc(t).Find(`[data-testid="recovery-low"]`).Length() != 1 {
		t.Fatalf("no warning with 3 codes left: %s", res.body)
	}
	res = c.postForm("/accounts/2fa/recovery-codes/generate/", url.Values{})
	wantStatus(t, res, http.StatusOK)
	fresh := res.doc(t).Find(`[data-testid="recovery-codes"] code`)
	if fresh.Length() != 10 {
		t.Fatalf("regenerated %d codes", fresh.Length())
	}
	if href, _ := res.doc(t).Find(`[data-testid="recovery-download"]`).Attr("href"); !strings.HasPrefix(href, "data:text/plain") ||
		!strings.Contains(href, strings.TrimSpace(fresh.First().Text())) {
		t.Fatalf("download link lacks the codes: %.80q", href)
	}
	// The old set no longer works; the new one does.
	b := ts.client(t)
	passwordStep(t, b, "alice", "correct horse battery", nil)
	wantStatus(t, b.postForm(secondStepURL, url.Values{"code": {codes[9]}}), http.StatusUnprocessableEntity)
	res = b.postForm(secondStepURL, url.Values{"code": {strings.TrimSpace(fresh.First().Text())}})
	wantRedirect(t, res, "/")
}

func TestTOTPDeactivation(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	activateTOTP(t, c)
	wantRedirect(t, c.postForm("/accounts/2fa/totp/deactivate/", url.Values{}), "/accounts/2fa/")
	var n int64
	ts.db.Model(&models.Authenticator{}).Where("user_id = ?", u.ID).Count(&n)
	if n != 0 {
		t.Fatalf("%d authenticators left after turning the only factor off", n)
	}
	if userEvents(t, ts, models.EventFactorRemoved, u.ID) != 1 {
		t.Fatal("no factor-removed event")
	}
	// The password alone signs in again.
	ts.client(t).login("alice", "correct horse battery")
}

func TestAdminSeesAndResetsFactors(t *testing.T) {
	ts := newTestServer(t, withSecretKey, func(c *Config) { c.Require2FAForStaff = true })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	activateTOTP(t, c)
	boss := ts.createUser(t, "boss", "boss@example.com", "correct horse battery")
	if err := ts.db.Model(&models.User{}).Where("id = ?", boss.ID).Updates(map[string]any{"is_staff": true, "is_superuser": true}).Error; err != nil {
		t.Fatal(err)
	}
	s := ts.client(t)
	s.login("boss", "correct horse battery")
	// Without a factor of their own, staff are sent to set one up.
	wantRedirect(t, s.get("/admin/"), "/accounts/2fa/")
	wantRedirect(t, s.get("/admin/users/"+itoa(u.ID)+"/2fa/"), "/accounts/2fa/")
	activateTOTP(t, s)
	res := s.get("/admin/users/" + itoa(u.ID) + "/2fa/")
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.text(t, `[data-testid="admin-mfa"]`), "on since") {
		t.Fatalf("admin does not show the factor: %s", res.body)
	}
	wantRedirect(t, s.postForm("/admin/users/"+itoa(u.ID)+"/2fa/reset/", url.Values{}), "/admin/users/"+itoa(u.ID)+"/2fa/")
	has, err := ts.app.core.Accounts.HasSecondFactor(context.Background(), u.ID)
	if err != nil || has {
		t.Fatalf("factors left after reset: %v %v", has, err)
	}
	var e models.AuthEvent
	if err := ts.db.Where("kind = ? AND user_id = ?", models.EventMFAReset, u.ID).Take(&e).Error; err != nil || e.ActorID == nil || *e.ActorID != boss.ID {
		t.Fatalf("reset not audited with its actor: %+v %v", e, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.mailOut.String(), "by the site's staff") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(ts.mailOut.String(), "by the site's staff") {
		t.Fatalf("reset not mailed: %s", ts.mailOut.String())
	}
	// A user who is not staff cannot reset anyone's.
	wantStatus(t, c.postForm("/admin/users/"+itoa(boss.ID)+"/2fa/reset/", url.Values{}), http.StatusForbidden)
}

func TestPasskeyEndpointsRefuseBadInput(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	anon := ts.client(t)
	res := anon.get("/accounts/2fa/webauthn/login/options/")
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.body, `"challenge"`) || !strings.Contains(res.body, `"state"`) {
		t.Fatalf("options lack a challenge or state: %s", res.body)
	}
	if anon.sessionCookie() != "" {
		t.Fatal("asking for passkey options made a session")
	}
	for _, v := range []url.Values{
		{},
		{"state": {"garbage"}, "credential": {"{}"}},
		{"state": {strings.Repeat("A", 20000)}, "credential": {strings.Repeat("{", 5000)}},
	} {
		wantStatus(t, anon.postForm("/accounts/2fa/webauthn/login/", v), http.StatusUnprocessableEntity)
	}
	c, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	res = c.get("/accounts/2fa/webauthn/")
	wantStatus(t, res, http.StatusOK)
	state, _ := res.doc(t).Find(`#passkey-add-form input[name="state"]`).Attr("value")
	wantStatus(t, c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {state}, "name": {"Laptop"}, "credential": {"{}"}}), http.StatusUnprocessableEntity)
	wantStatus(t, c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {state}, "name": {""}, "credential": {"{}"}}), http.StatusUnprocessableEntity)
	wantStatus(t, c.postForm("/accounts/2fa/webauthn/999/remove/", url.Values{}), http.StatusNotFound)
	wantStatus(t, c.postForm("/accounts/2fa/webauthn/x/remove/", url.Values{}), http.StatusNotFound)
}

// TestMFAChangesNeedSudo: turning the app off, new recovery codes, removing
// a passkey and the staff reset all go to re-authentication once
// REAUTH_TIMEOUT has passed, and change nothing.
func TestMFAChangesNeedSudo(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	activateTOTP(t, c)
	boss := ts.createUser(t, "boss", "boss@example.com", "correct horse battery")
	if err := ts.db.Model(&models.User{}).Where("id = ?", boss.ID).Updates(map[string]any{"is_staff": true, "is_superuser": true}).Error; err != nil {
		t.Fatal(err)
	}
	s := ts.client(t)
	s.login("boss", "correct horse battery")
	ts.ageReauth(t, u.ID)
	ts.ageReauth(t, boss.ID)
	for _, p := range []string{"/accounts/2fa/totp/deactivate/", "/accounts/2fa/recovery-codes/generate/", "/accounts/2fa/webauthn/1/remove/"} {
		res := c.postForm(p, url.Values{})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/accounts/reauthenticate/") {
			t.Fatalf("POST %s without sudo went to %q", p, loc)
		}
	}
	res := s.postForm("/admin/users/"+itoa(u.ID)+"/2fa/reset/", url.Values{})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/accounts/reauthenticate/") {
		t.Fatalf("admin reset without sudo: %d %q", res.StatusCode, loc)
	}
	st, err := ts.app.core.Accounts.MFAStatus(context.Background(), u.ID)
	if err != nil || !st.TOTP || st.RecoveryLeft != auth.RecoveryCodeCount {
		t.Fatalf("factors changed without sudo: %+v %v", st, err)
	}
}

// TestTOTPCodeSingleUseUnderBurst: one TOTP code posted by many pending
// sessions at once signs in exactly one of them (the step is claimed by a
// conditional UPDATE).
func TestTOTPCodeSingleUseUnderBurst(t *testing.T) {
	ts := newTestServer(t, withSecretKey, func(c *Config) { c.SecondFactorLimit = models.Limit{Max: 100, Window: time.Minute} })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	const n = 12
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = ts.client(t)
		passwordStep(t, clients[i], "alice", "correct horse battery", nil)
	}
	code := totpAt(t, secret, nowStep()+1)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range clients {
		wg.Go(func() {
			res, err := clients[i].http.PostForm(ts.URL+secondStepURL, url.Values{"code": {code}})
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusSeeOther {
			ok++
		} else if s != http.StatusUnprocessableEntity {
			t.Fatalf("unexpected status in burst: %v", statuses)
		}
	}
	if ok != 1 || ts.sessionCount(t, u.ID) != 2 {
		t.Fatalf("one TOTP code signed in %d times: %v", ok, statuses)
	}
}
