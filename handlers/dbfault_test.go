package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

// wantUnavailable fails unless res is the clear 503 answer: the error page
// (or, to htmx, the alert for the message area) with Retry-After, and no
// trace of a panic or stack.
func wantUnavailable(t *testing.T, res *response, htmx bool) {
	t.Helper()
	wantStatus(t, res, http.StatusServiceUnavailable)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	sel := "[data-testid=error-page]"
	if htmx {
		sel = "[data-testid=error-alert]"
	}
	if msg := res.text(t, sel); !strings.Contains(msg, "try again") {
		t.Fatalf("got %s text %q, want the unavailable message; body: %.500s", sel, msg, res.body)
	}
	if strings.Contains(res.body, "goroutine") || strings.Contains(res.body, "panic") {
		t.Fatalf("body shows a stack trace: %.500s", res.body)
	}
}

// wantLogged fails unless the server logged a 503 for op, and never a panic
// or an ERROR line.
func wantLogged(t *testing.T, ts *testServer, op string) {
	t.Helper()
	logs := ts.logs.String()
	if !strings.Contains(logs, `msg="service unavailable" op="`+op+`"`) && !strings.Contains(logs, `msg="service unavailable" op=`+op+" ") {
		t.Fatalf("want a log line for the unavailable database (op %s); log:\n%s", op, logs)
	}
	if strings.Contains(logs, "panic") || strings.Contains(logs, "level=ERROR") {
		t.Fatalf("fault logged as a panic or error:\n%s", logs)
	}
}

// TestDatabaseLocked holds SQLite's write lock from another connection (as a
// stuck admin shell or a long backup would) beyond the busy timeout: writes
// (login, logout, sign-up, password change, reset request) answer 503
// promptly and clearly, reads keep working (WAL), and everything works again
// once the lock is released.
func TestDatabaseLocked(t *testing.T) {
	testdb.SkipOnPostgres(t, "holds SQLite's write lock from another connection")
	ts := newTestServerWith(t, testSetup{dbOpts: []models.OpenOption{models.WithBusyTimeout(100 * time.Millisecond)}})
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	signedIn := ts.client(t)
	signedIn.login("alice", "correct horse battery")
	// Show the welcome flash now: taking it later is a session write.
	wantStatus(t, signedIn.get("/"), http.StatusOK)

	locker, err := sql.Open("sqlite3", "file:"+ts.dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer unlock()

	// The app's connections wait the configured 100 ms for the lock, not
	// the default 5 s, before answering 503: checked on the setting, not
	// with a stopwatch. The lock is held until the end, so a 503 at all
	// shows the request did not wait for it (the client's timeout guards
	// against a hang).
	var busy int
	if err := ts.db.Raw("PRAGMA busy_timeout").Scan(&busy).Error; err != nil || busy != 100 {
		t.Fatalf("busy_timeout of the app's connections: got %d (%v), want 100 ms", busy, err)
	}
	guest := ts.client(t)
	wantUnavailable(t, guest.postForm("/accounts/login/", loginValues("alice", "correct horse battery")), false)
	wantUnavailable(t, guest.htmxPost("/accounts/login/", loginValues("alice", "correct horse battery")), true)
	wantUnavailable(t, signedIn.postForm("/accounts/logout/", nil), false)
	wantLogged(t, ts, "login")
	accountWritesUnavailable(t, ts, guest, signedIn)

	// Reads still work under WAL: the signed-in user still sees their page.
	res := signedIn.get("/accounts/profile/")
	wantStatus(t, res, http.StatusOK)

	unlock()
	accountWritesWork(t, ts, guest, signedIn)
	guest.login("alice", "correct horse battery")
	wantRedirect(t, signedIn.postForm("/accounts/logout/", nil), "/")
	wantStatus(t, signedIn.get("/accounts/profile/"), http.StatusSeeOther)
}

// faultNewPassword is the password accountWritesUnavailable tries to set;
// accountWritesWork sets it once the fault has cleared.
const faultNewPassword = "a password set after the fault"

// accountWritesUnavailable checks that sign-up, password change and the
// reset request answer the clear 503 (page, or alert to htmx) while the
// database refuses writes, each with its log line. signedIn is alice,
// signed in with "correct horse battery".
func accountWritesUnavailable(t *testing.T, ts *testServer, guest, signedIn *testClient) {
	t.Helper()
	signup := signupValues("newcomer", "newcomer@example.com", "correct horse battery", "correct horse battery")
	wantUnavailable(t, guest.postForm("/accounts/signup/", signup), false)
	wantUnavailable(t, guest.htmxPost("/accounts/signup/", signup), true)
	wantLogged(t, ts, "check signup throttle")
	change := changeValues("correct horse battery", faultNewPassword, faultNewPassword)
	wantUnavailable(t, signedIn.postForm("/accounts/password_change/", change), false)
	wantUnavailable(t, signedIn.htmxPost("/accounts/password_change/", change), true)
	wantLogged(t, ts, "change password")
	reset := url.Values{"email": {"alice@example.com"}}
	wantUnavailable(t, guest.postForm("/accounts/password_reset/", reset), false)
	wantUnavailable(t, guest.htmxPost("/accounts/password_reset/", reset), true)
	wantLogged(t, ts, "request password reset")
	if _, err := ts.users.ByUsername(t.Context(), "newcomer"); err != models.ErrNotFound {
		t.Fatalf("a refused sign-up made an account (err %v)", err)
	}
}

// accountWritesWork checks the same three writes succeed once the fault
// has cleared, and leaves alice with her old password.
func accountWritesWork(t *testing.T, ts *testServer, guest, signedIn *testClient) {
	t.Helper()
	wantRedirect(t, guest.postForm("/accounts/password_reset/", url.Values{"email": {"alice@example.com"}}), passwordResetDoneURL)
	wantRedirect(t, signedIn.postForm("/accounts/password_change/", changeValues("correct horse battery", faultNewPassword, faultNewPassword)), passwordChangedURL)
	wantRedirect(t, signedIn.postForm("/accounts/password_change/", changeValues(faultNewPassword, "correct horse battery", "correct horse battery")), passwordChangedURL)
	wantRedirect(t, ts.client(t).postForm("/accounts/signup/", signupValues("newcomer", "newcomer@example.com", "correct horse battery", "correct horse battery")), "/")
}

// TestDatabaseReadOnly makes the database refuse writes (SQLite's
// query_only, the same SQLITE_READONLY a read-only file or mount gives; the
// test suite may run as root, for whom chmod changes nothing). Logins answer
// 503 and a log line; reading pages keeps working; writes work again when
// the fault clears.
func TestDatabaseReadOnly(t *testing.T) {
	testdb.SkipOnPostgres(t, "makes the SQLite file read-only")
	ts := newTestServer(t)
	ts.createUser(t, "bob", "bob@example.com", "correct horse battery")
	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	signedIn := ts.client(t)
	signedIn.login("alice", "correct horse battery")
	wantStatus(t, signedIn.get("/"), http.StatusOK) // take the welcome flash now
	sqlDB, err := ts.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// One connection, so the pragma below applies to every query.
	sqlDB.SetMaxOpenConns(1)
	setReadOnly := func(on bool) {
		t.Helper()
		v := "OFF"
		if on {
			v = "ON"
		}
		if err := ts.db.Exec("PRAGMA query_only = " + v).Error; err != nil {
			t.Fatal(err)
		}
	}
	setReadOnly(true)
	defer setReadOnly(false)

	c := ts.client(t)
	wantStatus(t, c.get("/"), http.StatusOK)
	wantUnavailable(t, c.postForm("/accounts/login/", loginValues("bob", "correct horse battery")), false)
	wantUnavailable(t, c.htmxPost("/accounts/login/", loginValues("bob", "correct horse battery")), true)
	wantLogged(t, ts, "login")
	accountWritesUnavailable(t, ts, c, signedIn)

	setReadOnly(false)
	accountWritesWork(t, ts, c, signedIn)
	c.login("bob", "correct horse battery")
	wantStatus(t, c.get("/accounts/profile/"), http.StatusOK)
}

// TestSessionLoadFailureDoesNotSignOut: when the session cannot be read,
// the request fails visibly instead of treating a signed-in user as a guest
// (gin-contrib's wrapper swallows the error and starts an empty session).
// The sessions table is renamed away from another connection to make every
// session read fail; afterwards the user is still signed in.
func TestSessionLoadFailureDoesNotSignOut(t *testing.T) {
	testdb.SkipOnPostgres(t, "renames the table from a raw SQLite connection")
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "carol", "correct horse battery")
	token := c.cookie(websession.SessionCookieName)

	other, err := sql.Open("sqlite3", "file:"+ts.dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec("ALTER TABLE sessions RENAME TO sessions_away"); err != nil {
		t.Fatal(err)
	}
	res := c.get("/")
	if res.StatusCode < 500 {
		t.Fatalf("session unreadable: got status %d, want an error page, not a guest's page", res.StatusCode)
	}
	if res.doc(t).Find("[data-testid=error-page]").Length() != 1 || strings.Contains(res.body, "goroutine") {
		t.Fatalf("want the error page without a trace; body: %.500s", res.body)
	}
	if !strings.Contains(ts.logs.String(), "load session") {
		t.Fatalf("want a log line naming the failed session load; log:\n%s", ts.logs.String())
	}
	if _, err := other.Exec("ALTER TABLE sessions_away RENAME TO sessions"); err != nil {
		t.Fatal(err)
	}
	if got := c.cookie(websession.SessionCookieName); got != token {
		t.Fatal("the failed request replaced the session cookie")
	}
	res = c.get("/")
	wantStatus(t, res, http.StatusOK)
	if got := res.text(t, "[data-testid=greeting]"); got != "Hi carol!" {
		t.Fatalf("after recovery: got greeting %q, want %q", got, "Hi carol!")
	}
}
