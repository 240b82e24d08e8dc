package handlers

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/validate"
	"gatehouse/models"
)

// TestRaceLoginLogoutOneUser has many browsers log one user in and out at
// once. No request may fail, each browser must end in the state of its own
// last action, and the session table must hold exactly one row per browser
// signed in (old tokens deleted, none shared).
func TestRaceLoginLogoutOneUser(t *testing.T) {
	// Eight browsers signing one account in at once from one address would
	// have more attempts in flight than the (username, address) limit lets
	// through: attempts are taken before the password is checked and a
	// success gives its attempt back only when it is done. This test is
	// about sessions racing, so that limit is off here (limits under
	// parallel attack: TestRaceLimitsHoldUnderBursts).
	ts := newTestServer(t, func(c *Config) { c.LoginLimitPerUserIP = models.Limit{Max: -1} }, raceDeadline)
	const password = "correct horse battery"
	alice := ts.createUser(t, "alice", "alice@example.com", password)
	const browsers, actions = 8, 12

	type result struct {
		client   *http.Client
		signedIn bool
		err      error
	}
	results := make([]result, browsers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range browsers {
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		results[i].client = client
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			signedIn := false
			for a := range actions {
				login := rng.IntN(2) == 0
				path, form := "/accounts/logout/", url.Values{}
				if login {
					path, form = "/accounts/login/", url.Values{"username": {"alice"}, "password": {password}}
				}
				res, err := client.PostForm(ts.URL+path, form)
				if err != nil {
					results[i].err = fmt.Errorf("action %d %s: %w", a, path, err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther {
					results[i].err = fmt.Errorf("action %d %s: got status %d, want 303; body: %.300s", a, path, res.StatusCode, body)
					return
				}
				signedIn = login
			}
			results[i].signedIn = signedIn
		})
	}
	close(start)
	wg.Wait()

	wantSignedIn := int64(0)
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("browser %d: %v", i, r.err)
		}
		res, err := r.client.Get(ts.URL + "/accounts/profile/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case r.signedIn && res.StatusCode != http.StatusOK:
			t.Errorf("browser %d ended signed in: got profile status %d, want 200", i, res.StatusCode)
		case r.signedIn && !strings.Contains(string(body), "alice"):
			t.Errorf("browser %d: profile does not show alice", i)
		case !r.signedIn && res.StatusCode != http.StatusSeeOther:
			t.Errorf("browser %d ended signed out: got profile status %d, want 303 to the login page", i, res.StatusCode)
		}
		if r.signedIn {
			wantSignedIn++
		}
	}
	if got := ts.sessionCount(t, alice.ID); got != wantSignedIn {
		t.Fatalf("got %d sessions of alice, want %d (one per browser signed in)", got, wantSignedIn)
	}
	if got := ts.sessionCount(t, 0); got > browsers {
		t.Fatalf("got %d session rows, want at most %d (one per browser): rotated rows were left behind", got, browsers)
	}
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Fatalf("server logged errors:\n%s", ts.logs.String())
	}
}

// TestRaceSignupOneName: many browsers, from different addresses, sign up
// one name in different letter cases at the same moment. The database's
// unique index settles it: exactly one account, its browser signed in; the
// rest get the form (422) saying the name is taken, never a 500.
func TestRaceSignupOneName(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy, raceDeadline)
	names := []string{"racer", "Racer", "RACER", "rAcEr", "racer", "RaCeR", "racER", "RACEr"}
	clients := make([]*testClient, len(names))
	results := make([]*response, len(names))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, name := range names {
		clients[i] = ts.clientFrom(t, fmt.Sprintf("198.51.100.%d", i+1), "racer")
		wg.Go(func() {
			<-start
			results[i] = clients[i].postForm("/accounts/signup/", signupValues(name, fmt.Sprintf("r%d@example.com", i), signupPW, signupPW))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, res := range results {
		switch res.StatusCode {
		case http.StatusSeeOther:
			if winner >= 0 {
				t.Errorf("signups %d and %d both succeeded", winner, i)
			}
			winner = i
		case http.StatusUnprocessableEntity:
			if got := res.text(t, "[data-testid=username-msg] .error"); got != usernameTakenError {
				t.Errorf("signup %d: got username error %q, want %q", i, got, usernameTakenError)
			}
		default:
			t.Errorf("signup %d: got status %d, want 303 or 422; body: %.300s", i, res.StatusCode, res.body)
		}
	}
	if winner < 0 {
		t.Fatal("no signup succeeded")
	}
	var users []models.User
	ts.db.Where("username_key = ?", validate.UsernameKey("racer")).Find(&users)
	if len(users) != 1 || users[0].Username != names[winner] || users[0].Email != fmt.Sprintf("r%d@example.com", winner) {
		t.Fatalf("got accounts %+v, want exactly the winner's (%s)", users, names[winner])
	}
	if got := clients[winner].get("/").text(t, "[data-testid=greeting]"); got != "Hi "+names[winner]+"!" {
		t.Errorf("winner: got greeting %q, want them signed in", got)
	}
	if n := countEvents(t, ts, models.EventSignup, ""); n != 1 {
		t.Errorf("got %d signup events, want 1", n)
	}
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("server logged errors:\n%s", ts.logs.String())
	}
}

// TestRaceResetLinkOneUse: one reset link, opened in many browsers, is
// submitted from all of them at once. Exactly one sets the password (the
// conditional UPDATE that uses the token up); every other browser gets the
// invalid-link page, and only the winner's password works.
func TestRaceResetLinkOneUse(t *testing.T) {
	ts := newTestServer(t, raceDeadline)
	u := ts.createUser(t, "kim", "kim@example.com", "kim's long password")
	token, err := ts.app.core.Tokens.Issue(t.Context(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = ts.client(t)
		wantRedirect(t, clients[i].get("/accounts/reset/"+token+"/"), setPasswordURL)
	}
	password := func(i int) string { return fmt.Sprintf("parallel password %c", 'a'+i) }
	results := make([]*response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range clients {
		wg.Go(func() {
			<-start
			results[i] = c.postForm(setPasswordURL, setValues(password(i), password(i)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, res := range results {
		switch res.StatusCode {
		case http.StatusSeeOther:
			if winner >= 0 {
				t.Errorf("browsers %d and %d both set the password", winner, i)
			}
			winner = i
			if got := res.Header.Get("Location"); got != resetCompleteURL {
				t.Errorf("winner: got Location %q, want %q", got, resetCompleteURL)
			}
		default:
			wantInvalidLink(t, res)
		}
	}
	if winner < 0 {
		t.Fatal("no browser set the password")
	}
	// The winner's first (a success clears this address's login counter
	// for kim, so the losers' attempts below are answered, not throttled
	// before they are).
	ts.client(t).login("kim", password(winner))
	for i := range n {
		if i == winner {
			continue
		}
		res := ts.client(t).postForm("/accounts/login/", url.Values{"username": {"kim"}, "password": {password(i)}})
		if res.StatusCode == http.StatusSeeOther {
			t.Errorf("login with browser %d's password succeeded; only the winner's should", i)
		}
	}
	if n := countEvents(t, ts, models.EventResetCompleted, "user_id = ?", u.ID); n != 1 {
		t.Errorf("got %d password_reset_completed events, want 1", n)
	}
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("server logged errors:\n%s", ts.logs.String())
	}
}

// raceDeadline gives the race tests' requests 30 s of database time
// instead of DATABASE_BUSY_TIMEOUT's 5: they test what concurrent
// requests leave behind, and on a loaded 2-core CI machine a burst of
// writers queued behind SQLite's one write lock (with argon2 hashing
// beside them) can wait longer than 5 s; a 503 there says nothing about
// the race. The timeout itself is tested in stuckdb_test.go.
func raceDeadline(c *Config) { c.DatabaseTimeout = 30 * time.Second }
