package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
)

// Tests of the request quotas on password resets and sign-ups (the login
// limits are in throttle_test.go).

// resetAnswer is everything about a reset request's answer that a client
// could tell apart: status, headers, the body, and the page it leads to.
type resetAnswer struct {
	status         int
	headers        string
	body, donePage string
}

// headerText is every response header but Date and X-Request-ID, one per
// line in order, with cookie values blanked (they are random per response).
func headerText(h http.Header) string {
	var lines []string
	for k, vs := range h {
		if k == "Date" || k == "X-Request-Id" {
			continue
		}
		for _, v := range vs {
			if k == "Set-Cookie" {
				name, rest, _ := strings.Cut(v, "=")
				_, attrs, _ := strings.Cut(rest, ";")
				v = name + "=…;" + attrs
			}
			lines = append(lines, k+": "+v)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// askReset asks for a reset of email from a fresh browser at one address.
func askReset(t *testing.T, ts *testServer, email string, htmx bool) resetAnswer {
	t.Helper()
	c := ts.clientFrom(t, "198.51.100.20", "reset-asker")
	v := url.Values{"email": {email}}
	var res *response
	if htmx {
		res = c.htmxPost("/accounts/password_reset/", v)
	} else {
		res = c.postForm("/accounts/password_reset/", v)
	}
	done := c.get("/accounts/password_reset/done/")
	return resetAnswer{status: res.StatusCode, headers: headerText(res.Header), body: res.body, donePage: done.body}
}

// drainResets waits until the reset worker has processed every request
// queued so far: it queues one for sentinel (a user of its own) and, the
// worker being serial, waits for that one's event.
func drainResets(t *testing.T, ts *testServer, sentinel *models.User) {
	t.Helper()
	c := ts.clientFrom(t, "192.0.2.254", "sentinel")
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {sentinel.Email}}), passwordResetDoneURL)
	// The worker claims due jobs in batches and may finish them in any
	// order, so wait until every reset job is done, the sentinel's too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n, open int64
		ts.db.Model(&models.AuthEvent{}).Where("user_id = ? AND kind = ?", sentinel.ID, models.EventResetRequested).Count(&n)
		ts.db.Model(&models.OutboxMessage{}).Where("kind = ? AND sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL", models.KindResetRequest).Count(&open)
		if n > 0 && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the reset worker did not finish the reset jobs")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countEvents(t *testing.T, ts *testServer, kind models.EventKind, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := ts.db.Model(&models.AuthEvent{}).Where("kind = ?", kind)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasswordResetLimitPerEmailRevealsNothing: past the per-address limit a
// request is answered exactly as any other (status, headers, body bytes,
// the page after) for known and unknown addresses alike, and no job is
// queued for it, whatever the letter case.
func TestPasswordResetLimitPerEmailRevealsNothing(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy, func(c *Config) {
		c.PasswordResetThrottle = time.Nanosecond // the worker mails every job
		c.PasswordResetLimitPerEmail = models.Limit{Max: 2, Window: time.Hour}
		c.PasswordResetLimitPerIP = models.Limit{Max: -1}
	})
	grace := ts.createUser(t, "grace", "grace@example.com", "grace's long password")
	hank := ts.createUser(t, "hank", "hank@example.com", "hank's long password")
	sentinel := ts.createUser(t, "sentinel", "sentinel@example.com", "sentinel's long password")

	for _, mode := range []struct {
		htmx           bool
		known, unknown string
	}{
		{false, "grace@example.com", "nobody@example.com"},
		{true, "hank@example.com", "nobody2@example.com"},
	} {
		want := askReset(t, ts, mode.known, mode.htmx)
		if want.status != http.StatusSeeOther && want.status != http.StatusOK {
			t.Fatalf("htmx=%v: got status %d, want the usual redirect", mode.htmx, want.status)
		}
		asks := []struct{ what, email string }{
			{"unknown, under the limit", mode.unknown},
			{"known in another case, reaching the limit", strings.ToUpper(mode.known)},
			{"unknown, reaching the limit", mode.unknown},
			{"known, over the limit", mode.known},
			{"known in another case, over the limit", " " + strings.ToUpper(mode.known[:1]) + mode.known[1:]},
			{"unknown, over the limit", mode.unknown},
		}
		for _, a := range asks {
			if got := askReset(t, ts, a.email, mode.htmx); got != want {
				t.Errorf("htmx=%v, %s: answer differs from an ordinary one:\ngot  %+v\nwant %+v", mode.htmx, a.what, got, want)
			}
		}
	}
	drainResets(t, ts, sentinel)
	for _, u := range []*models.User{grace, hank} {
		if n := countEvents(t, ts, models.EventResetRequested, "user_id = ? AND detail_code = ?", u.ID, models.DetailResetLinkMailed); n != 2 {
			t.Errorf("%s: got %d links mailed for 4 requests, want 2 (the limit)", u.Username, n)
		}
	}
	if n := countEvents(t, ts, models.EventResetRequested, "user_id IS NULL"); n != 4 {
		t.Errorf("got %d look-ups of unknown addresses for 6 requests, want 4 (2 per address)", n)
	}
	// One event per block started (four addresses), never naming the address.
	var evs []models.AuthEvent
	ts.db.Where("kind = ?", models.EventResetThrottled).Find(&evs)
	if len(evs) != 4 {
		t.Fatalf("got %d password_reset_throttled events, want 4: %+v", len(evs), evs)
	}
	for _, e := range evs {
		if !strings.Contains(models.EventDetail(context.Background(), &e), auth.ScopeResetEmail) || strings.Contains(e.Detail+e.Username, "@") || e.IP != "198.51.100.20" {
			t.Errorf("got event %+v, want the scope and client, and no address", e)
		}
	}
}

// TestPasswordResetLimitPerIP: past the per-client limit the form answers
// 429 with Retry-After and an inline message (page or fragment), keeps the
// address typed, and queues nothing; other clients are unaffected.
func TestPasswordResetLimitPerIP(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy, func(c *Config) {
		c.PasswordResetThrottle = time.Nanosecond
		c.PasswordResetLimitPerEmail = models.Limit{Max: -1}
		c.PasswordResetLimitPerIP = models.Limit{Max: 3, Window: time.Hour}
	})
	ivy := ts.createUser(t, "ivy", "ivy@example.com", "ivy's long password")
	sentinel := ts.createUser(t, "sentinel", "sentinel@example.com", "sentinel's long password")
	sprayer := ts.clientFrom(t, "203.0.113.40", "sprayer")
	for i := range 3 {
		wantRedirect(t, sprayer.postForm("/accounts/password_reset/", url.Values{"email": {"guess" + strconv.Itoa(i) + "@example.com"}}), passwordResetDoneURL)
	}
	for _, htmx := range []bool{false, true} {
		v := url.Values{"email": {"ivy@example.com"}}
		var res *response
		if htmx {
			res = sprayer.htmxPost("/accounts/password_reset/", v)
		} else {
			res = sprayer.postForm("/accounts/password_reset/", v)
		}
		wantStatus(t, res, http.StatusTooManyRequests)
		secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || secs < 3500 || secs > 3600 {
			t.Errorf("got Retry-After %q, want about an hour (a quota blocks for its window)", res.Header.Get("Retry-After"))
		}
		doc := res.doc(t)
		if msg := res.text(t, "#password-reset-errors"); !strings.Contains(msg, "Too many password reset requests") || !strings.Contains(msg, "60 minutes") {
			t.Errorf("got form error %q, want the throttle message", msg)
		}
		if doc.Find("#password-reset-errors").AttrOr("role", "") != "alert" {
			t.Error("throttle message is not role=alert")
		}
		if got := doc.Find("#id_email").AttrOr("value", ""); got != "ivy@example.com" {
			t.Errorf("got email kept as %q", got)
		}
		if got, want := doc.Find("main#main").Length() > 0, !htmx; got != want {
			t.Errorf("htmx=%v: got full page %v, want %v", htmx, got, want)
		}
	}
	// Another client still gets through.
	wantRedirect(t, ts.clientFrom(t, "203.0.113.41", "x").postForm("/accounts/password_reset/", url.Values{"email": {"nobody@example.com"}}), passwordResetDoneURL)
	drainResets(t, ts, sentinel)
	if n := countEvents(t, ts, models.EventResetRequested, "user_id = ?", ivy.ID); n != 0 {
		t.Errorf("got %d jobs for ivy from refused requests, want 0", n)
	}
	if n := countEvents(t, ts, models.EventResetThrottled, "detail LIKE ?", "%scope="+url.QueryEscape(auth.ScopeResetIP)+"%"); n != 1 {
		t.Errorf("got %d password_reset_throttled events for the client, want 1", n)
	}
}

// wantSignupThrottled fails unless res is the signup form answering 429
// with Retry-After and the message, the username and address kept.
func wantSignupThrottled(t *testing.T, res *response, htmx bool, username string) {
	t.Helper()
	wantStatus(t, res, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("got Retry-After %q, want seconds", res.Header.Get("Retry-After"))
	}
	doc := res.doc(t)
	if msg := res.text(t, "#signup-errors"); !strings.Contains(msg, "Too many sign-up attempts") {
		t.Fatalf("got form error %q, want the throttle message", msg)
	}
	if doc.Find("#signup-errors").AttrOr("role", "") != "alert" {
		t.Fatal("throttle message is not role=alert")
	}
	if got := doc.Find("#id_username").AttrOr("value", ""); got != username {
		t.Fatalf("got username kept as %q, want %q", got, username)
	}
	if got, want := doc.Find("main#main").Length() > 0, !htmx; got != want {
		t.Fatalf("htmx=%v: got full page %v, want %v", htmx, got, want)
	}
	if doc.Find("form#signup-form").Length() != 1 {
		t.Fatal("no signup form in the answer")
	}
}

const signupPW = "correct horse battery"

// TestSignupLimitPerIP: sign-ups that reach hashing count against the
// client's quota, failed validations do not; past it the form answers 429
// before any look-up (a taken name gets the 429, not "taken"); other
// clients are unaffected; one event marks the block.
func TestSignupLimitPerIP(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy, func(c *Config) {
		c.SignupLimitPerIP = models.Limit{Max: 2, Window: time.Hour}
	})
	ts.createUser(t, "taken", "taken@example.com", "some long password")
	c := ts.clientFrom(t, "203.0.113.60", "signup-bot")
	for i := range 3 {
		res := ts.clientFrom(t, "203.0.113.60", "signup-bot").postForm("/accounts/signup/",
			signupValues("u"+strconv.Itoa(i), "u@example.com", signupPW, signupPW+"x"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
	}
	for i := range 2 {
		res := ts.clientFrom(t, "203.0.113.60", "signup-bot").postForm("/accounts/signup/",
			signupValues("ok"+strconv.Itoa(i), "ok"+strconv.Itoa(i)+"@example.com", signupPW, signupPW))
		wantRedirect(t, res, "/")
	}
	wantSignupThrottled(t, c.postForm("/accounts/signup/", signupValues("third", "t@example.com", signupPW, signupPW)), false, "third")
	wantSignupThrottled(t, c.htmxPost("/accounts/signup/", signupValues("taken", "t@example.com", signupPW, signupPW)), true, "taken")
	if _, err := ts.users.ByUsername(t.Context(), "third"); err != models.ErrNotFound {
		t.Fatalf("a throttled sign-up made an account (err %v)", err)
	}
	wantRedirect(t, ts.clientFrom(t, "203.0.113.61", "person").postForm("/accounts/signup/",
		signupValues("elsewhere", "e@example.com", signupPW, signupPW)), "/")
	if n := countEvents(t, ts, models.EventSignupThrottled, "ip = ? AND detail LIKE ?", "203.0.113.60", "%scope="+url.QueryEscape(auth.ScopeSignupIP)+"%"); n != 1 {
		t.Errorf("got %d signup_throttled events, want 1", n)
	}
}

// TestSignupCheckLimit: username look-ups (live checks and final POSTs)
// count against a per-client limit; past it the live check answers 429
// with a neutral note (neither taken nor available) and the POST answers
// 429 instead of saying "taken", so names cannot be enumerated either way.
// The other fields' live checks are never throttled.
func TestSignupCheckLimit(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy, func(c *Config) {
		c.SignupCheckLimitPerIP = models.Limit{Max: 4, Window: 15 * time.Minute}
	})
	ts.createUser(t, "taken", "taken@example.com", "some long password")
	c := ts.clientFrom(t, "203.0.113.70", "enumerator")
	check := func(c *testClient, field string, v url.Values) *response {
		return c.htmxPost("/accounts/signup/validate/"+field+"/", v)
	}
	for _, name := range []string{"taken", "free1", "free2"} {
		res := check(c, "username", signupValues(name, "", "", ""))
		wantStatus(t, res, http.StatusOK)
		if res.text(t, "[data-testid=username-msg]") == "" {
			t.Fatalf("check %q: no verdict", name)
		}
	}
	// A final POST looks the name up too, and counts.
	res := c.postForm("/accounts/signup/", signupValues("taken", "x@example.com", signupPW, signupPW))
	wantStatus(t, res, http.StatusUnprocessableEntity)

	for _, name := range []string{"taken", "free3"} {
		res := check(c, "username", signupValues(name, "", "", ""))
		wantStatus(t, res, http.StatusTooManyRequests)
		if res.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		doc := res.doc(t)
		msg := doc.Find("#id_username-msg")
		if msg.Length() != 1 || doc.Find("input").Length() != 0 {
			t.Fatalf("got %q, want only the message element", res.body)
		}
		if msg.Find(".error, .ok").Length() != 0 || msg.Is("[data-invalid]") {
			t.Fatalf("got %q, want a neutral note, no verdict", res.body)
		}
		if note := msg.Find(".note").Text(); !strings.Contains(note, "Too many username checks") {
			t.Fatalf("got note %q, want the throttle message", note)
		}
	}
	wantSignupThrottled(t, c.postForm("/accounts/signup/", signupValues("taken", "x@example.com", signupPW, signupPW)), false, "taken")

	// Typing a password is never held up.
	for range 10 {
		wantStatus(t, check(c, "password1", signupValues("bob", "b@example.com", signupPW, "")), http.StatusOK)
		wantStatus(t, check(c, "password2", signupValues("bob", "b@example.com", signupPW, signupPW)), http.StatusOK)
		wantStatus(t, check(c, "email", signupValues("bob", "b@example.com", "", "")), http.StatusOK)
	}
	// Another client still gets verdicts.
	res = check(ts.clientFrom(t, "203.0.113.71", "person"), "username", signupValues("taken", "", "", ""))
	wantStatus(t, res, http.StatusOK)
	if !strings.Contains(res.text(t, "[data-testid=username-msg] .error"), usernameTakenError) {
		t.Fatalf("other client: got %q, want the taken verdict", res.body)
	}
}

// TestQuotaDefaults: the documented defaults, and that a quota blocks for
// its whole window (so "3/1h" is three an hour, not three a minute).
func TestQuotaDefaults(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	for _, tc := range []struct {
		name          string
		got           models.Limit
		want          string
		block, maxBlk time.Duration
	}{
		{"reset per email", cfg.PasswordResetLimitPerEmail, "3/1h0m0s", time.Hour, time.Hour},
		{"reset per IP", cfg.PasswordResetLimitPerIP, "20/1h0m0s", time.Hour, time.Hour},
		{"signup per IP", cfg.SignupLimitPerIP, "10/1h0m0s", time.Hour, time.Hour},
		{"signup checks per IP", cfg.SignupCheckLimitPerIP, "300/15m0s", 15 * time.Minute, time.Hour},
	} {
		if tc.got.String() != tc.want || tc.got.Block != tc.block || tc.got.MaxBlock != tc.maxBlk {
			t.Errorf("%s: got %s block %v max %v, want %s block %v max %v", tc.name, tc.got, tc.got.Block, tc.got.MaxBlock, tc.want, tc.block, tc.maxBlk)
		}
	}
	off := Config{SignupLimitPerIP: models.Limit{Max: -1}}
	off.SetDefaults()
	if off.SignupLimitPerIP.Enabled() {
		t.Error("an off limit was turned on")
	}
}

// TestQuotasOff: with the limits off, nothing is refused or counted.
func TestQuotasOff(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.PasswordResetLimitPerEmail = models.Limit{Max: -1}
		c.PasswordResetLimitPerIP = models.Limit{Max: -1}
		c.SignupLimitPerIP = models.Limit{Max: -1}
		c.SignupCheckLimitPerIP = models.Limit{Max: -1}
	})
	c := ts.client(t)
	for i := range 12 {
		wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"same@example.com"}}), passwordResetDoneURL)
		wantRedirect(t, ts.client(t).postForm("/accounts/signup/", signupValues("n"+strconv.Itoa(i), "n"+strconv.Itoa(i)+"@example.com", signupPW, signupPW)), "/")
	}
	var n int64
	ts.db.Model(&models.ThrottleCounter{}).Count(&n)
	if n != 0 {
		t.Errorf("got %d throttle counters with every limit off, want 0", n)
	}
}
