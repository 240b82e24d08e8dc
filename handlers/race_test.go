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
)

// TestRaceLoginLogoutOneUser has many browsers log one user in and out at
// once. No request may fail, each browser must end in the state of its own
// last action, and the session table must hold exactly one row per browser
// signed in (old tokens deleted, none shared).
func TestRaceLoginLogoutOneUser(t *testing.T) {
	ts := newTestServer(t)
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
