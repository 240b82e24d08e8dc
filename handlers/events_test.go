package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

func TestSecurityEventsRecorded(t *testing.T) {
	ts := newTestServer(t, loginLimits(2, 1000))
	const (
		realPassword  = "Tr0ub4dor&3-real-secret"
		wrongPassword = "wr0ng-Passw0rd-typed-by-alice"
		unknownPass   = "pw-typed-for-an-unknown-user"
		throttledPass = "pw-typed-while-throttled"
		ip, ua        = "192.0.2.33", "events-test-agent/1.0"
	)
	alice := ts.createUser(t, "alice", "alice@example.com", realPassword)
	c := ts.clientFrom(t, ip, ua)
	start := time.Now().UTC().Add(-time.Second)

	wantStatus(t, c.postForm("/accounts/login/", loginValues("nobody", unknownPass)), http.StatusUnprocessableEntity)
	wantStatus(t, c.postForm("/accounts/login/", loginValues("alice", wrongPassword)), http.StatusUnprocessableEntity)
	c.login("alice", realPassword)
	token := c.cookie(websession.SessionCookieName)
	wantRedirect(t, c.postForm("/accounts/logout/", nil), "/")
	wantStatus(t, c.postForm("/accounts/login/", loginValues("nobody", unknownPass)), http.StatusUnprocessableEntity)
	wantThrottled(t, c.postForm("/accounts/login/", loginValues("nobody", throttledPass)))
	end := time.Now().UTC().Add(time.Second)

	var evs []models.AuthEvent
	if err := ts.db.Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind     models.EventKind
		username string
		userID   *uint
	}{
		// A name no account has is not stored (people paste passwords
		// into the username field); a failure on an existing account is
		// linked to it, so staff see attacks on it.
		{models.EventLoginFailed, "", nil},
		{models.EventLoginFailed, "alice", &alice.ID},
		{models.EventLoginSucceeded, "alice", &alice.ID},
		{models.EventLogout, "alice", &alice.ID},
		{models.EventLoginFailed, "", nil},
		{models.EventLoginThrottled, "", nil},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.Kind != w.kind || e.Username != w.username {
			t.Errorf("event %d: got %s/%q, want %s/%q", i, e.Kind, e.Username, w.kind, w.username)
		}
		if (e.UserID == nil) != (w.userID == nil) || (w.userID != nil && *e.UserID != *w.userID) {
			t.Errorf("event %d (%s): got user ID %v, want %v", i, e.Kind, e.UserID, w.userID)
		}
		if e.IP != ip || e.UserAgent != ua {
			t.Errorf("event %d (%s): got IP %q, user agent %q, want %q, %q", i, e.Kind, e.IP, e.UserAgent, ip, ua)
		}
		if e.CreatedAt.Before(start) || e.CreatedAt.After(end) {
			t.Errorf("event %d (%s): got time %v, want between %v and %v", i, e.Kind, e.CreatedAt, start, end)
		}
	}

	// No secret anywhere in the database: not in any row of any table,
	// nor in the raw files (WAL included), nor in the log.
	wantNoSecrets(t, ts, []string{realPassword, wrongPassword, unknownPass, throttledPass, token})
}

// TestSecurityEventsAccountFlows follows one account through sign-up,
// password change, a reset by e-mail, a login, and staff actions (edit,
// set password, reset mail, revoke sessions, add a user): every step lands
// in the security log with its user, actor and client, and no password,
// reset token or session token from any of them is stored anywhere in the
// database files or written to the server log.
func TestSecurityEventsAccountFlows(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail, trustLocalProxy)
	const (
		ip, ua     = "192.0.2.44", "flows-agent/2.0"
		signupPass = "Signup-Secret-Pass-1"
		changePass = "Changed-Secret-Pass-2"
		resetPass  = "Reset-Secret-Pass-3"
		staffPass  = "Staff-Set-Secret-Pass-4"
		addedPass  = "Added-User-Secret-Pass-5"
	)
	var secrets []string
	keepToken := func(c *testClient) {
		t.Helper()
		if tok := c.cookie(websession.SessionCookieName); tok != "" && !slices.Contains(secrets, tok) {
			secrets = append(secrets, tok)
		}
	}
	nextResetLink := func() string {
		t.Helper()
		for {
			if m := smtpSrv.Next(t, 5*time.Second); resetLinkRE.MatchString(m.Text) {
				return resetPath(t, m)
			}
		}
	}

	c := ts.clientFrom(t, ip, ua)
	wantRedirect(t, c.postForm("/accounts/signup/", signupValues("nina", "nina@example.com", signupPass, signupPass)), "/")
	keepToken(c)
	nina, err := ts.users.ByUsername(t.Context(), "nina")
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.postForm("/accounts/password_change/", changeValues(signupPass, changePass, changePass)), passwordChangedURL)
	keepToken(c)

	r := ts.clientFrom(t, ip, ua)
	wantRedirect(t, r.postForm("/accounts/password_reset/", url.Values{"email": {"nina@example.com"}}), passwordResetDoneURL)
	link := nextResetLink()
	wantRedirect(t, r.get(link), setPasswordURL)
	keepToken(r)
	wantRedirect(t, r.postForm(setPasswordURL, setValues(resetPass, resetPass)), resetCompleteURL)
	keepToken(r)
	r.login("nina", resetPass)
	keepToken(r)

	admin, adminUser := ts.createAdmin(t, "stella", true, false)
	keepToken(admin)
	userURL := fmt.Sprintf("/admin/users/%d/", nina.ID)
	wantRedirect(t, admin.postForm(userURL, userEdit("nina@example.org", nil)), userURL)
	wantRedirect(t, admin.postForm(userURL+"password/", setValues(staffPass, staffPass)), userURL)
	wantRedirect(t, admin.postForm(userURL+"password-reset/", nil), userURL)
	staffLink := nextResetLink()
	c.login("nina", staffPass)
	keepToken(c)
	wantRedirect(t, admin.postForm(userURL+"sessions/revoke-all/", nil), userURL)
	add := userEdit("added@example.com", nil)
	add.Set("username", "added")
	add.Set("password1", addedPass)
	add.Set("password2", addedPass)
	wantStatus(t, admin.postForm("/admin/users/add/", add), http.StatusSeeOther)
	added, err := ts.users.ByUsername(t.Context(), "added")
	if err != nil {
		t.Fatal(err)
	}
	// The staff member's reset mail is sent by the worker: wait for its event.
	deadline := time.Now().Add(5 * time.Second)
	for countEvents(t, ts, models.EventResetRequested, "user_id = ? AND actor_id = ?", nina.ID, adminUser.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no event for the staff member's reset mail")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var evs []models.AuthEvent
	if err := ts.db.Where("user_id = ?", nina.ID).Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	type step struct {
		kind  models.EventKind
		actor uint
	}
	var got []step
	for _, e := range evs {
		s := step{kind: e.Kind}
		if e.ActorID != nil {
			s.actor = *e.ActorID
		}
		got = append(got, s)
		if e.Username != "nina" {
			t.Errorf("%s: got username %q, want nina", e.Kind, e.Username)
		}
		// Requests carry the client; the worker's event carries the
		// client that asked.
		if s.actor == 0 && (e.IP != ip || e.UserAgent != ua) {
			t.Errorf("%s: got IP %q user agent %q, want %q %q", e.Kind, e.IP, e.UserAgent, ip, ua)
		}
	}
	a := adminUser.ID
	want := []step{
		{models.EventSignup, 0},
		{models.EventPasswordChanged, 0},
		{models.EventResetRequested, 0},
		{models.EventResetCompleted, 0},
		// The reset link proved the (unconfirmed) address: it is confirmed.
		{models.EventEmailVerified, 0},
		{models.EventLoginSucceeded, 0},
		{models.EventAdminAction, a},
		{models.EventPasswordSet, a},
		{models.EventResetRequested, a},
		{models.EventLoginSucceeded, 0},
		{models.EventSessionRevoked, a},
	}
	// The worker records the staff member's reset when it gets to it, so
	// that one event may land after later steps: compare as multisets.
	sortSteps := func(s []step) []step {
		s = slices.Clone(s)
		slices.SortFunc(s, func(x, y step) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
		return s
	}
	if !slices.Equal(sortSteps(got), sortSteps(want)) {
		t.Errorf("got events %v, want %v", got, want)
	}
	if e := ts.lastEvent(t, added.ID); e.Kind != models.EventUserCreated || e.ActorID == nil || *e.ActorID != a {
		t.Errorf("got %+v, want user_created by the staff member", e)
	}

	for _, l := range []string{link, staffLink} {
		secrets = append(secrets, strings.TrimSuffix(strings.TrimPrefix(l, "/accounts/reset/"), "/"))
	}
	secrets = append(secrets, signupPass, changePass, resetPass, staffPass, addedPass, adminPW)
	if len(secrets) < 13 {
		t.Fatalf("collected only %d secrets: the flows did not run as expected", len(secrets))
	}
	wantNoSecrets(t, ts, secrets)
}

// wantNoSecrets fails if any secret is in any stored row, in the database
// files (WAL included) or in the server log.
func wantNoSecrets(t *testing.T, ts *testServer, secrets []string) {
	t.Helper()
	for _, row := range dumpTables(t, ts) {
		for _, s := range secrets {
			if strings.Contains(row, s) {
				t.Errorf("a stored row holds a password or token: %.300s", row)
			}
		}
	}
	// The files exist only on SQLite; on PostgreSQL the rows above are all.
	if testdb.Postgres() {
		return
	}
	if err := ts.db.Exec("PRAGMA wal_checkpoint(PASSIVE)").Error; err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{ts.dbPath, ts.dbPath + "-wal"} {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a password or token", path)
			}
		}
	}
	logs := ts.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the server log holds a password or token")
		}
	}
}

// dumpTables returns every row of every table as text, for scanning.
func dumpTables(t *testing.T, ts *testServer) []string {
	t.Helper()
	tables, err := ts.db.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tbl := range tables {
		var rows []map[string]any
		if err := ts.db.Table(tbl).Find(&rows).Error; err != nil {
			t.Fatalf("dump %s: %v", tbl, err)
		}
		for _, r := range rows {
			var b strings.Builder
			b.WriteString(tbl)
			for k, v := range r {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
			out = append(out, b.String())
		}
	}
	if len(out) == 0 {
		t.Fatal("dumped no rows")
	}
	return out
}
