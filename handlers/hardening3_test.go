package handlers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/passhash"
	"gatehouse/mail/mailtest"
	"gatehouse/metrics"
	"gatehouse/models"
)

// Hardening, round three: the attacks on the account-security features.

// TestFactorPagesNeedSudo: from a session whose confirmation has lapsed
// (a stolen cookie), no page that adds, replaces or shows a way to sign in
// opens, and no POST adds one: each goes to the re-authentication page.
func TestFactorPagesNeedSudo(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	ts.ageReauth(t, u.ID)
	for _, p := range []string{"/accounts/2fa/totp/activate/", "/accounts/2fa/recovery-codes/", "/accounts/2fa/webauthn/"} {
		wantRedirect(t, c.get(p), reauthTo(p))
	}
	for _, p := range []string{"/accounts/2fa/totp/activate/", "/accounts/2fa/webauthn/"} {
		res := c.postForm(p, url.Values{"state": {"x"}, "code": {"123456"}, "name": {"Thief"}, "credential": {"{}"}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/accounts/reauthenticate/") {
			t.Fatalf("POST %s without sudo went to %q", p, loc)
		}
	}
	// After confirming, the pages open.
	wantRedirect(t, c.postForm("/accounts/reauthenticate/", url.Values{"password": {"correct horse battery"}, "next": {"/accounts/2fa/webauthn/"}}), "/accounts/2fa/webauthn/")
	wantStatus(t, c.get("/accounts/2fa/webauthn/"), http.StatusOK)
	wantStatus(t, c.get("/accounts/2fa/totp/activate/"), http.StatusOK)
	// (The recovery-codes page, with no factor yet, sends to the overview.)
	wantRedirect(t, c.get("/accounts/2fa/recovery-codes/"), "/accounts/2fa/")
}

// TestNoFactorsBeforeTheAddressIsConfirmed: an account whose address is not
// confirmed can add neither an authenticator app nor a passkey (the page
// and the POST both refuse), so someone who signed up with another
// person's address cannot plant factors.
func TestNoFactorsBeforeTheAddressIsConfirmed(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "mallory", "correct horse battery")
	// Activation pages work for a confirmed address; take their state.
	page := c.get("/accounts/2fa/totp/activate/")
	wantStatus(t, page, http.StatusOK)
	secret := strings.TrimSpace(page.doc(t).Find(`[data-testid="totp-secret"]`).Text())
	state, _ := page.doc(t).Find(`input[name="state"]`).Attr("value")
	passkeys := c.get("/accounts/2fa/webauthn/")
	wantStatus(t, passkeys, http.StatusOK)
	pkOptions, _ := passkeys.doc(t).Find(`#passkey-add-form`).Attr("data-options")
	pkState, _ := passkeys.doc(t).Find(`#passkey-add-form input[name="state"]`).Attr("value")

	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", false).Error; err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.get("/accounts/2fa/totp/activate/"), "/accounts/email/")
	wantRedirect(t, c.get("/accounts/2fa/webauthn/"), "/accounts/email/")
	wantRedirect(t, c.postForm("/accounts/2fa/totp/activate/", url.Values{"state": {state}, "code": {totpAt(t, secret, nowStep())}}), "/accounts/email/")
	p := newSoftPasskey(t, ts.h.cfg.BaseURL)
	wantRedirect(t, c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {pkState}, "name": {"Planted"}, "credential": {p.create(pkOptions)}}), "/accounts/email/")
	st, err := ts.app.core.Accounts.MFAStatus(context.Background(), u.ID)
	if err != nil || st.Enabled() || st.RecoveryTotal != 0 {
		t.Fatalf("an unconfirmed account got factors: %+v %v", st, err)
	}
}

// TestPasskeysCappedPerAccount: MAX_PASSKEYS bounds an account's passkeys,
// checked under the user's row lock in the adding transaction, so a burst
// of adds prepared together stays within the cap.
func TestPasskeysCappedPerAccount(t *testing.T) {
	ts := newTestServer(t, withSecretKey, func(c *Config) { c.MaxPasskeys = 2 })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	// An authenticator app first: the session is then a two-factor one,
	// which adding a passkey leaves alone (a first factor's set-up
	// moves the session to a new token, and the burst's requests
	// would race that rather than the cap).
	activateTOTP(t, c)
	// Prepare six ceremonies before adding any, then post them at once.
	type prepared struct{ options, state string }
	var ready []prepared
	for range 6 {
		page := c.get("/accounts/2fa/webauthn/")
		wantStatus(t, page, http.StatusOK)
		o, _ := page.doc(t).Find(`#passkey-add-form`).Attr("data-options")
		s, _ := page.doc(t).Find(`#passkey-add-form input[name="state"]`).Attr("value")
		ready = append(ready, prepared{o, s})
	}
	statuses := make(chan int, len(ready))
	var wg sync.WaitGroup
	for i, r := range ready {
		p := newSoftPasskey(t, ts.h.cfg.BaseURL)
		body := url.Values{"state": {r.state}, "name": {"Key " + strconv.Itoa(i)}, "credential": {p.create(r.options)}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- c.postForm("/accounts/2fa/webauthn/", body).StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	var added, refused int
	for s := range statuses {
		switch s {
		case http.StatusOK, http.StatusSeeOther:
			added++
		case http.StatusUnprocessableEntity:
			refused++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	st, err := ts.app.core.Accounts.MFAStatus(context.Background(), u.ID)
	if err != nil || len(st.Passkeys) != 2 || added != 2 || refused != 4 {
		t.Fatalf("got %d passkeys stored, %d added, %d refused (%v); want 2, 2, 4", len(st.Passkeys), added, refused, err)
	}
	// At the cap the page offers no add form.
	page := c.get("/accounts/2fa/webauthn/")
	wantStatus(t, page, http.StatusOK)
	if page.doc(t).Find(`#passkey-add-form`).Length() != 0 || page.doc(t).Find(`[data-testid="passkeys-full"]`).Length() != 1 {
		t.Fatalf("the full passkeys page still offers to add one: %.2000s", page.body)
	}
}

// TestPasskeyResponseStoredSmall: what is stored of a passkey is what
// verification needs, not the attestation the client sent: a response
// padded with a large attestation statement stores a small row, and a
// ceremony body over the cap is refused before parsing.
func TestPasskeyResponseStoredSmall(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	_, res := addSoftPasskey(t, ts, c, "Laptop")
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding a passkey: status %d: %.1500s", res.StatusCode, res.body)
	}
	var row models.Authenticator
	if err := ts.db.Where("user_id = ? AND kind = ?", u.ID, models.FactorPasskey).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if len(row.Credential) > 2048 {
		t.Fatalf("stored credential is %d bytes; want what verification needs (< 2 KB)", len(row.Credential))
	}
	// Padded client data within the ceremony cap: verified, stored small.
	page := c.get("/accounts/2fa/webauthn/")
	o, _ := page.doc(t).Find(`#passkey-add-form`).Attr("data-options")
	s, _ := page.doc(t).Find(`#passkey-add-form input[name="state"]`).Attr("value")
	p := newSoftPasskey(t, ts.h.cfg.BaseURL)
	p.pad = 30 << 10
	res = c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {s}, "name": {"Padded"}, "credential": {p.create(o)}})
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding a padded passkey: status %d", res.StatusCode)
	}
	var sizes []int
	if err := ts.db.Model(&models.Authenticator{}).Where("user_id = ? AND kind = ?", u.ID, models.FactorPasskey).
		Pluck("length(credential)", &sizes).Error; err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		if n > 2048 {
			t.Fatalf("a passkey row holds %d bytes of credential; the client's padding was stored", n)
		}
	}
	// A ceremony body over the cap is refused before it is parsed.
	p.pad = 100 << 10
	res = c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {s}, "name": {"Huge"}, "credential": {p.create(o)}})
	wantStatus(t, res, http.StatusRequestEntityTooLarge)
}

// nextMail returns the next delivered message whose subject contains
// subject, skipping others.
func nextMail(t *testing.T, srv *mailtest.Server, subject string) mailtest.Message {
	t.Helper()
	for range 20 {
		m := srv.Next(t, 10*time.Second)
		if strings.Contains(m.Subject, subject) {
			return m
		}
	}
	t.Fatalf("no mail with subject %q", subject)
	return mailtest.Message{}
}

// resetByMail asks for a reset of address and completes it with password.
func resetByMail(t *testing.T, ts *testServer, srv *mailtest.Server, address, password string) {
	t.Helper()
	c := ts.client(t)
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {address}}), "/accounts/password_reset/done/")
	path := resetPath(t, nextMail(t, srv, "Password reset"))
	wantRedirect(t, c.get(path), "/accounts/reset/set-password/")
	wantRedirect(t, c.postForm("/accounts/reset/set-password/", setValues(password, password)), "/accounts/reset/done/")
}

// TestResetNamesTheFactorsLeft: a reset does not leave factors in place
// silently. The password-changed notice names the account's factors with
// a link to review them, and the account hub shows them.
func TestResetNamesTheFactorsLeft(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withSecretKey, withMail)
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	addSoftPasskey(t, ts, c, "Thief's key")
	resetByMail(t, ts, srv, "alice@example.com", "a brand new password")
	notice := nextMail(t, srv, "password was changed")
	for _, part := range []string{notice.Text, notice.HTML} {
		if !strings.Contains(part, "an authenticator app, 1 passkey and 10 recovery codes") || !strings.Contains(part, "http://example.test/accounts/2fa/") {
			t.Fatalf("the reset notice does not name the factors and link to them:\n%s", part)
		}
	}
	// Signed in again (password + code), the hub shows the factors.
	b := ts.client(t)
	passwordStep(t, b, "alice", "a brand new password", nil)
	wantRedirect(t, b.postForm(secondStepURL, url.Values{"code": {totpAt(t, secret, nowStep()+1)}}), "/")
	page := b.get("/accounts/profile/")
	wantStatus(t, page, http.StatusOK)
	if got := strings.TrimSpace(page.doc(t).Find(`[data-testid="profile-2fa"]`).Text()); got != "Authenticator app on, 1 passkey, 10 recovery codes left" {
		t.Fatalf("profile two-factor line: got %q", got)
	}
	if href, _ := page.doc(t).Find(`[data-testid="profile-2fa"] a`).Attr("href"); href != "/accounts/2fa/" {
		t.Fatalf("profile two-factor link: got %q", href)
	}
	_ = u
}

// TestResetRemovesFactorsPlantedBeforeVerification: factors on an account
// whose address was never confirmed (planted by someone who signed up with
// the owner's address, before that was refused) are removed when the
// address's owner resets the password, and the address becomes confirmed:
// the owner signs in with the password alone, and is told.
func TestResetRemovesFactorsPlantedBeforeVerification(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withSecretKey, withMail)
	c, u := ts.signUpAndLogin(t, "victim", "attacker chose this")
	activateTOTP(t, c)
	addSoftPasskey(t, ts, c, "Attacker's key")
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", false).Error; err != nil {
		t.Fatal(err)
	}
	resetByMail(t, ts, srv, "victim@example.com", "the owner's password")
	notice := nextMail(t, srv, "password was changed")
	if !strings.Contains(notice.Text, "were removed") || strings.Contains(notice.Text, "can still be signed in to") {
		t.Fatalf("the notice does not say the factors were removed:\n%s", notice.Text)
	}
	st, err := ts.app.core.Accounts.MFAStatus(context.Background(), u.ID)
	if err != nil || st.Enabled() || st.RecoveryTotal != 0 {
		t.Fatalf("planted factors survived the reset: %+v %v", st, err)
	}
	b := ts.client(t)
	b.login("victim", "the owner's password") // no second step
	var verified bool
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Pluck("email_verified", &verified).Error; err != nil || !verified {
		t.Fatalf("the address is not confirmed after a reset by its owner (%v)", err)
	}
}

// TestEveryWayInChecksTheDevice: a sign-in with a TOTP code and one with a
// passkey from a browser the account has not used go through the same
// device check as a password sign-in: the event, the notice, the cookie.
func TestEveryWayInChecksTheDevice(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withSecretKey, withMail, func(c *Config) { c.NewDeviceNotice = true })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	secret, _ := activateTOTP(t, c)
	p, _ := addSoftPasskey(t, ts, c, "Laptop")
	newDevice := func() int64 { return userEvents(t, ts, models.EventNewDevice, u.ID) }
	before := newDevice()

	// Password + TOTP from a new browser.
	b := ts.client(t)
	passwordStep(t, b, "alice", "correct horse battery", nil)
	wantRedirect(t, b.postForm(secondStepURL, url.Values{"code": {totpAt(t, secret, nowStep()+1)}}), "/")
	if b.cookie("device") == "" || newDevice() != before+1 {
		t.Fatalf("TOTP sign-in from a new browser: device cookie %q, new-device events %d (want %d)", b.cookie("device"), newDevice(), before+1)
	}
	if m := nextMail(t, srv, "New sign-in"); !strings.Contains(m.Text, "alice") {
		t.Fatalf("new-device notice: %s", m.Text)
	}
	// A passkey alone from another new browser.
	d := ts.client(t)
	wantStatus(t, passkeySignIn(t, d, p), http.StatusSeeOther)
	if d.cookie("device") == "" || newDevice() != before+2 {
		t.Fatalf("passkey sign-in from a new browser: device cookie %q, new-device events %d (want %d)", d.cookie("device"), newDevice(), before+2)
	}
	nextMail(t, srv, "New sign-in")
	// The same browser again: known, no event.
	d.postForm("/accounts/logout/", nil)
	wantStatus(t, passkeySignIn(t, d, p), http.StatusSeeOther)
	if newDevice() != before+2 {
		t.Fatalf("a known browser was reported as new")
	}
}

// TestEveryWayInAppliesTheAccountChecks: with EMAIL_VERIFICATION=mandatory
// a passkey sign-in of an unconfirmed account is refused like a password
// one (403, no session), and a deactivated account's passkey signs in
// nobody.
func TestEveryWayInAppliesTheAccountChecks(t *testing.T) {
	ts := newTestServer(t, withSecretKey, func(c *Config) { c.EmailVerification = auth.VerifyMandatory })
	c, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
	p, _ := addSoftPasskey(t, ts, c, "Laptop")
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", false).Error; err != nil {
		t.Fatal(err)
	}
	before := ts.sessionCount(t, u.ID)
	b := ts.client(t)
	wantStatus(t, b.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}), http.StatusForbidden)
	wantStatus(t, passkeySignIn(t, b, p), http.StatusForbidden)
	if n := ts.sessionCount(t, u.ID); n != before {
		t.Fatalf("an unconfirmed account got a session by passkey: %d sessions, want %d", n, before)
	}
	if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Updates(map[string]any{"email_verified": true, "is_active": false}).Error; err != nil {
		t.Fatal(err)
	}
	res := passkeySignIn(t, b, p)
	wantStatus(t, res, http.StatusForbidden)
	if res.doc(t).Find(`[data-testid="account-inactive"]`).Length() != 1 {
		t.Fatalf("a deactivated account's passkey did not get the inactive page: %.1000s", res.body)
	}
	if n := ts.sessionCount(t, u.ID); n != before {
		t.Fatalf("a deactivated account got a session by passkey")
	}
}

// TestNoRouteGivesVisitorsASession walks every route of the route table
// as a visitor without a cookie — GET and POST, parameters filled with
// junk and with plausible values — and counts session rows: none may be
// made. (Only a reset link in progress or a logout message get one, and
// neither happens here: no valid link, nobody signed in.)
func TestNoRouteGivesVisitorsASession(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	u := ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	fills := []string{"1", "x", itoa(u.ID), strings.Repeat("A", 43)}
	seen := 0
	for _, r := range ts.app.router().Routes() {
		for _, fill := range fills {
			var parts []string
			for _, seg := range strings.Split(r.Path, "/") {
				if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
					seg = fill
				}
				parts = append(parts, seg)
			}
			path := strings.Join(parts, "/")
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				c := ts.client(t)
				if fill == "x" { // a cookie that names no session counts as none
					c.setCookie("sessionid", strings.Repeat("B", 43))
				}
				var res *response
				if method == http.MethodGet {
					res = c.get(path)
				} else {
					res = c.postForm(path, url.Values{"username": {"alice"}, "password": {"wrong"}, "code": {"123456"},
						"email": {"nobody@example.com"}, "state": {"x"}, "credential": {"{}"}})
				}
				if res.StatusCode >= 500 {
					t.Errorf("%s %s (route %s): status %d", method, path, r.Path, res.StatusCode)
				}
				if n := ts.sessionCount(t, 0); n != 0 {
					t.Fatalf("%s %s (route %s) made %d session rows for a visitor without a cookie (status %d)", method, path, r.Path, n, res.StatusCode)
				}
				if ck := c.sessionCookie(); ck != "" && ck != strings.Repeat("B", 43) {
					t.Fatalf("%s %s (route %s) set a session cookie for a visitor", method, path, r.Path)
				}
				seen++
			}
		}
	}
	if seen < 200 {
		t.Fatalf("walked %d requests; the route table looks empty", seen)
	}
}

// TestMetricsLabelsStayBounded: requests with thousands of made-up methods
// and paths add no series: methods outside HTTP's own are "OTHER", paths
// outside the route table one value.
func TestMetricsLabelsStayBounded(t *testing.T) {
	m := metrics.New()
	ts := newTestServer(t, func(c *Config) { c.Metrics = m })
	msrv := httptest.NewServer(m.Handler())
	defer msrv.Close()
	series := func() int {
		return strings.Count(scrape(t, msrv), "gatehouse_http_request_duration_seconds_count{")
	}
	for i := range 20 {
		req, _ := http.NewRequest("GET", ts.URL+"/no/such/page/"+strconv.Itoa(i), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	base := series()
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method := "X" + strings.Repeat(strconv.Itoa(i), 200)
			req, _ := http.NewRequest(method, ts.URL+"/"+strconv.Itoa(i)+"/"+method[:20], nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	// At most the OTHER method (and its 404/405 statuses) can be new.
	if got := series(); got > base+3 {
		t.Fatalf("made-up methods and paths grew the request series from %d to %d", base, got)
	}
	if text := scrape(t, msrv); strings.Contains(text, "X0000") || strings.Contains(text, "/no/such") {
		t.Fatal("a client's method or path appears in the metrics")
	}
}

// TestAdminPrivilegedCreateNeedsSudo: creating a staff member or superuser
// in the admin asks for a recent password, as promoting one does; a plain
// account does not.
func TestAdminPrivilegedCreateNeedsSudo(t *testing.T) {
	ts := newTestServer(t)
	root, rootUser := ts.createAdmin(t, "root", true, true)
	ts.ageReauth(t, rootUser.ID)
	form := func(name string, flags map[string]bool) url.Values {
		v := url.Values{"username": {name}, "email": {name + "@example.com"}, "password1": {"a long enough password"}, "password2": {"a long enough password"}}
		for k, on := range flags {
			v[k] = []string{"off"}
			if on {
				v[k] = append(v[k], "on")
			}
		}
		return v
	}
	for _, flags := range []map[string]bool{{"is_superuser": true}, {"is_staff": true}} {
		res := root.postForm("/admin/users/add/", form("sneaky", flags))
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/accounts/reauthenticate/") {
			t.Fatalf("privileged create %v without sudo went to %q", flags, loc)
		}
		var n int64
		ts.db.Model(&models.User{}).Where("username = ?", "sneaky").Count(&n)
		if n != 0 {
			t.Fatalf("a privileged account was created without sudo (%v)", flags)
		}
	}
	res := root.postForm("/admin/users/add/", form("plain", nil))
	if res.StatusCode != http.StatusSeeOther || strings.HasPrefix(res.Header.Get("Location"), "/accounts/reauthenticate/") {
		t.Fatalf("a plain account needed sudo: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestAdminStaffCannotChangeTheirOwnAddress: in the admin, staff changing
// (or marking confirmed) their own address are sent to their account's
// e-mail page; nothing is stored.
func TestAdminStaffCannotChangeTheirOwnAddress(t *testing.T) {
	ts := newTestServer(t)
	staff, me := ts.createAdmin(t, "staffer", true, false)
	wantRedirect(t, staff.postForm("/admin/users/"+itoa(me.ID)+"/", userEdit("mine@evil.example", map[string]bool{"is_active": true})), "/accounts/email/")
	wantRedirect(t, staff.postForm("/admin/users/"+itoa(me.ID)+"/email-verified/", url.Values{"email_verified": {"on"}}), "/accounts/email/")
	if got := reload(t, ts, me.ID); got.Email != me.Email {
		t.Fatalf("staff changed their own address in the admin to %q", got.Email)
	}
	// The same form with the address unchanged still saves.
	res := staff.postForm("/admin/users/"+itoa(me.ID)+"/", userEdit(me.Email, map[string]bool{"is_active": true}))
	wantRedirect(t, res, "/admin/users/"+itoa(me.ID)+"/")
}

// TestDeletionLeavesNoNameOrAddress: staff deleting a user and a user
// deleting themselves go the same way: no security event names the
// account in clear, and no outbox row (queued, sent or failed) keeps its
// address or username; a self-deletion's goodbye forgets the address once
// delivered.
func TestDeletionLeavesNoNameOrAddress(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	root, _ := ts.createAdmin(t, "root", true, true)
	traces := func(name, address string) []string {
		var found []string
		var events []models.AuthEvent
		ts.db.Where("username = ?", name).Find(&events)
		if len(events) > 0 {
			found = append(found, fmt.Sprintf("%d events named %q", len(events), name))
		}
		var rows []models.OutboxMessage
		ts.db.Where("recipient = ? OR payload LIKE ?", address, "%"+name+"%").Find(&rows)
		if len(rows) > 0 {
			found = append(found, fmt.Sprintf("%d outbox rows with %q or %q", len(rows), address, name))
		}
		return found
	}
	for _, who := range []string{"bystaff", "byself"} {
		u := ts.createUser(t, who, who+"@example.com", "a long enough password")
		c := ts.client(t)
		c.login(who, "a long enough password")
		// Mail about the account: one sent, one failed for good, one queued.
		wantStatus(t, ts.client(t).postForm("/accounts/login/", url.Values{"username": {who}, "password": {"wrong"}}), http.StatusUnprocessableEntity)
		wantRedirect(t, ts.client(t).postForm("/accounts/password_reset/", url.Values{"email": {who + "@example.com"}}), "/accounts/password_reset/done/")
		nextMail(t, srv, "Password reset")
		for _, kind := range []string{models.KindPasswordChanged, models.KindEmailChanged} {
			if err := ts.db.Create(&models.OutboxMessage{Kind: kind, UserID: &u.ID, Recipient: who + "@example.com",
				Payload: `{"username":"` + who + `"}`, NextAttemptAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}).Error; err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now()
		ts.db.Model(&models.OutboxMessage{}).Where("user_id = ? AND kind = ?", u.ID, models.KindEmailChanged).Update("failed_at", now)
		if len(traces(who, who+"@example.com")) == 0 {
			t.Fatal("the set-up left no traces to scrub")
		}
		if who == "bystaff" {
			wantRedirect(t, root.postForm(fmt.Sprintf("/admin/users/%d/delete/", u.ID), nil), "/admin/users/")
		} else {
			wantRedirect(t, c.postForm("/accounts/delete/", url.Values{"password": {"a long enough password"}}), "/accounts/deleted/")
			nextMail(t, srv, "deleted")
			// Wait for the worker to mark the goodbye sent.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				var pending int64
				ts.db.Model(&models.OutboxMessage{}).Where("kind = ? AND sent_at IS NULL", models.KindAccountDeleted).Count(&pending)
				if pending == 0 {
					break
				}
			}
		}
		if got := traces(who, who+"@example.com"); len(got) != 0 {
			t.Errorf("%s: after deletion: %v", who, got)
		}
		var deleted int64
		ts.db.Model(&models.AuthEvent{}).Where("user_id = ? AND kind = ? AND username = ?", u.ID, models.EventUserDeleted, auth.Tombstone(u.ID)).Count(&deleted)
		if deleted != 1 {
			t.Errorf("%s: got %d user_deleted events under the tombstone, want 1", who, deleted)
		}
	}
}

// TestImportedUsersCostWhatOthersCost: with imported Django hashes in the
// table, a wrong password for an imported user, for a Gatehouse user and
// for a username nobody has each cost the same work — one argon2id and one
// check of the imported kind — so timing does not reveal who was imported
// (or who exists).
func TestImportedUsersCostWhatOthersCost(t *testing.T) {
	const django = "pbkdf2_sha256$260000$VHela7k5zKqT98LbaSE4sG$Uj2ZVdZdf/ARXJc192fqdi78271maw+lPOvG/5EZqdU=" // Django 3.2, "correct-horse-battery"
	ts := newTestServer(t)
	ts.createUser(t, "native", "native@example.com", "correct horse battery")
	for _, name := range []string{"imported", "imported2"} {
		u := ts.createUser(t, name, name+"@example.com", "placeholder-Pass-123")
		if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("password", django).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := models.RefreshLegacyDummy(context.Background(), ts.db, ts.app.core.Hasher); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	work := map[string]int{}
	ts.app.core.Hasher.ObserveVerify(func(alg string) { mu.Lock(); work[alg]++; mu.Unlock() })
	costOf := func(username string) map[string]int {
		mu.Lock()
		clear(work)
		mu.Unlock()
		wantStatus(t, ts.client(t).postForm("/accounts/login/", url.Values{"username": {username}, "password": {"wrong password!"}}), http.StatusUnprocessableEntity)
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(work)
	}
	want := map[string]int{passhash.AlgArgon2id: 1, passhash.AlgPBKDF2SHA256: 1}
	for _, who := range []string{"imported", "native", "nobody-has-this-name"} {
		if got := costOf(who); !maps.Equal(got, want) {
			t.Errorf("a wrong password for %q cost %v, want %v", who, got, want)
		}
	}
	// The imported user still signs in (and is upgraded).
	ts.client(t).login("imported", "correct-horse-battery")
}
