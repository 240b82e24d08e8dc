package handlers

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gorm.io/gorm"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// The session lookup and userinfo serve what they read until the database
// next changes (internal/readcache). These tests change the database from
// a second handle, as another process (the CLI) or another instance
// would, and from the app itself, and check that the very next request
// sees the change.

// otherHandle opens the test's database a second time.
func otherHandle(t *testing.T, ts *testServer) *gorm.DB {
	t.Helper()
	db, err := models.Open(context.Background(), ts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}

// seen waits for a change made by another handle to reach the app: at
// once on SQLite (the stamp is the database's own), within the
// watch's bound elsewhere.
func seen(t *testing.T, ts *testServer, what string, ok func() bool) {
	t.Helper()
	wait := time.Duration(0)
	if models.IsPostgres(ts.db) {
		wait = time.Second
	}
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen by the next request", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until the database's change stamp has held still for a
// moment. On PostgreSQL this process's own commits move it twice: as they
// return, and again when their notification comes back a moment later
// (models/changes_pg.go); a read cached in between is read again once.
func settle(t *testing.T, ts *testServer) {
	t.Helper()
	w := models.Changes(ts.db)
	deadline := time.Now().Add(5 * time.Second)
	last, _ := w.Stamp()
	for still := time.Now(); time.Since(still) < 50*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("the change stamp did not settle within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
		if s, ok := w.Stamp(); !ok || s != last {
			last, still = s, time.Now()
		}
	}
}

func greeting(t *testing.T, c *testClient) string {
	t.Helper()
	return c.get("/").text(t, "[data-testid=greeting]")
}

func TestCachedSessionSeesEveryCommit(t *testing.T) {
	ts := newTestServer(t)
	if models.Changes(ts.db) == nil {
		t.Skip("no change watch on this database: nothing is cached")
	}
	u := ts.createUser(t, "alice", "alice@example.com", "a long enough passphrase")
	c := ts.client(t)
	c.login("alice", "a long enough passphrase")
	greeting(t, c) // the welcome flash is shown (a write)
	settle(t, ts)
	before, _ := ts.h.store.CacheStats()
	for range 3 {
		if got := greeting(t, c); got != "Hi alice!" {
			t.Fatalf("signed in: got greeting %q", got)
		}
	}
	if hits, _ := ts.h.store.CacheStats(); hits < before+2 {
		t.Fatalf("the cache answered %d of 3 lookups: this test would prove nothing", hits-before)
	}
	signedIn := func() bool { return greeting(t, c) == "Hi alice!" }
	other := otherHandle(t, ts)

	// Renamed elsewhere: the page shows the new name.
	if err := other.Model(&models.User{}).Where("id = ?", u.ID).Updates(map[string]any{"username": "alicia", "username_key": "alicia"}).Error; err != nil {
		t.Fatal(err)
	}
	seen(t, ts, "renamed elsewhere", func() bool { return greeting(t, c) == "Hi alicia!" })
	signedIn = func() bool { return greeting(t, c) == "Hi alicia!" }
	// Deactivated elsewhere.
	if err := other.Model(&models.User{}).Where("id = ?", u.ID).Update("is_active", false).Error; err != nil {
		t.Fatal(err)
	}
	seen(t, ts, "deactivated elsewhere", func() bool { return !signedIn() })
	if err := other.Model(&models.User{}).Where("id = ?", u.ID).Update("is_active", true).Error; err != nil {
		t.Fatal(err)
	}
	c.login("alicia", "a long enough passphrase")
	greeting(t, c)
	greeting(t, c)
	// The session's row deleted elsewhere (revoked by the CLI).
	if err := other.Exec("DELETE FROM sessions WHERE user_id = ?", u.ID).Error; err != nil {
		t.Fatal(err)
	}
	seen(t, ts, "session deleted elsewhere", func() bool { return !signedIn() })

	// And through the app: another browser signs alice out everywhere.
	c.login("alicia", "a long enough passphrase")
	c2 := ts.client(t)
	c2.login("alicia", "a long enough passphrase")
	greeting(t, c)
	greeting(t, c)
	res := c2.postForm(route.URL(route.SessionsRevokeOthers), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere else: %d", res.StatusCode)
	}
	if signedIn() {
		t.Fatal("a session ended by another browser is still signed in at the next request")
	}
}

// browseBurst runs 8 goroutines requesting / with one of cookies (chosen at
// random) until its stop function is called. ended[i] says cookie i's
// session has been ended; it is read before each request begins, and each
// answer is counted by it and by whether the page greets signedIn.
func browseBurst(t *testing.T, ts *testServer, cookies []string, ended []atomic.Bool, signedIn string) (*burstCounts, func()) {
	t.Helper()
	n := &burstCounts{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for {
				select {
				case <-done:
					return
				default:
				}
				i := rand.IntN(len(cookies))
				wasEnded := ended[i].Load()
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
				req.AddCookie(&http.Cookie{Name: ts.h.store.CookieName(), Value: cookies[i]})
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				doc, err := goquery.NewDocumentFromReader(res.Body)
				res.Body.Close()
				if err != nil {
					t.Error(err)
					return
				}
				in := strings.TrimSpace(doc.Find("[data-testid=greeting]").Text()) == signedIn
				n.requests.Add(1)
				switch {
				case wasEnded:
					n.after.Add(1)
					if in {
						n.signedInAfter.Add(1)
					}
				case in:
					n.signedInBefore.Add(1)
				}
			}
		})
	}
	return n, func() { close(done); wg.Wait() }
}

// burstCounts are browseBurst's answers: all of them, those signed in before
// their session ended, those begun after it ended, and of these the ones
// still signed in (which must be none).
type burstCounts struct{ requests, signedInBefore, after, signedInAfter atomic.Int64 }

// A burst of requests with one session while another handle deletes it:
// once the delete has returned, no request that began after it is served
// as signed in.
func TestCachedSessionRevocationBurst(t *testing.T) {
	ts := newTestServer(t)
	if models.Changes(ts.db) == nil || models.IsPostgres(ts.db) {
		t.Skip("exact only where the stamp is the database's own (SQLite)")
	}
	u := ts.createUser(t, "alice", "alice@example.com", "a long enough passphrase")
	c := ts.client(t)
	c.login("alice", "a long enough passphrase")
	greeting(t, c)
	other := otherHandle(t, ts)

	ended := make([]atomic.Bool, 1)
	n, stop := browseBurst(t, ts, []string{c.sessionCookie()}, ended, "Hi alice!")
	time.Sleep(150 * time.Millisecond)
	if err := other.Exec("DELETE FROM sessions WHERE user_id = ?", u.ID).Error; err != nil {
		t.Fatal(err)
	}
	ended[0].Store(true)
	time.Sleep(150 * time.Millisecond)
	stop()
	if n.signedInBefore.Load() == 0 || n.after.Load() == 0 {
		t.Fatalf("the burst did not straddle the delete (%d signed-in before, %d after)", n.signedInBefore.Load(), n.after.Load())
	}
	if s := n.signedInAfter.Load(); s != 0 {
		t.Fatalf("%d of %d requests begun after the session was deleted were served signed in", s, n.after.Load())
	}
}

// Userinfo's cached token: revoked, or its user renamed or deactivated,
// elsewhere → the next call sees it.
func TestCachedUserinfoSeesEveryCommit(t *testing.T) {
	ts := oidcServer(t)
	if models.Changes(ts.db) == nil {
		t.Skip("no change watch on this database: nothing is cached")
	}
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID, "profile")
	c, u := ts.signUpAndLogin(t, "ivan", "correct horse battery")
	tok, _ := r.signIn(c)
	name := func() (string, error) {
		info, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return "", err
		}
		var ic struct {
			Name string `json:"preferred_username"`
		}
		err = info.Claims(&ic)
		return ic.Name, err
	}
	settle(t, ts)
	before, _ := ts.app.core.OIDC.UserinfoCacheStats()
	for range 3 {
		if n, err := name(); err != nil || n != "ivan" {
			t.Fatalf("userinfo: %q %v", n, err)
		}
	}
	if hits, _ := ts.app.core.OIDC.UserinfoCacheStats(); hits < before+2 {
		t.Fatalf("the cache answered %d of 3 calls: this test would prove nothing", hits-before)
	}
	other := otherHandle(t, ts)
	if err := other.Model(&models.User{}).Where("id = ?", u.ID).Update("username", "ivana").Error; err != nil {
		t.Fatal(err)
	}
	seen(t, ts, "renamed elsewhere", func() bool { n, err := name(); return err == nil && n == "ivana" })
	if err := other.Model(&models.OIDCToken{}).Where("user_id = ? AND kind = ?", u.ID, models.OIDCAccess).
		Update("revoked_at", time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	seen(t, ts, "revoked elsewhere", func() bool { _, err := name(); return err != nil })
}

// A cached session or access token ends when it expires, although nothing
// was committed since it was read.
func TestCachedRowsExpire(t *testing.T) {
	ts := oidcServer(t, func(c *Config) {
		c.SessionIdleTimeout = 1500 * time.Millisecond
		c.OIDCAccessTokenLifetime = 1500 * time.Millisecond
	})
	if models.Changes(ts.db) == nil {
		t.Skip("no change watch on this database: nothing is cached")
	}
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, gooidc.ScopeOpenID)
	c, _ := ts.signUpAndLogin(t, "erin", "correct horse battery")
	tok, _ := r.signIn(c)
	greeting(t, c)
	settle(t, ts)
	sHits, _ := ts.h.store.CacheStats()
	uHits, _ := ts.app.core.OIDC.UserinfoCacheStats()
	for range 2 {
		if got := greeting(t, c); got != "Hi erin!" {
			t.Fatalf("got greeting %q", got)
		}
		if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := ts.h.store.CacheStats(); h == sHits {
		t.Fatal("the session was never served from the cache")
	}
	if h, _ := ts.app.core.OIDC.UserinfoCacheStats(); h == uHits {
		t.Fatal("the token was never served from the cache")
	}
	time.Sleep(1600 * time.Millisecond)
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("an expired access token still answered from the cache")
	}
	if got := greeting(t, c); got == "Hi erin!" {
		t.Error("an expired session still signed in from the cache")
	}
}
