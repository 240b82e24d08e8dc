package handlers

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"gatehouse/models"
)

// The session lookup is cached until the database changes
// (internal/readcache, models.Changes). These tests hold it to what
// reading the database every time gave: a session ended, or a user
// deactivated, by this instance is refused on the very next request, and
// by another instance within a short wait (on PostgreSQL at most the
// change watch's 100 ms bound; on SQLite at once).

// waitCacheHit requests / as c until the session cache answers one of
// them, so what follows tests a cached session.
func waitCacheHit(t *testing.T, ts *testServer, c *testClient) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		before, _ := ts.h.store.CacheStats()
		if got := signedInAs(t, c); got != "alice" {
			t.Fatalf("signed in as %q, want alice", got)
		}
		if after, _ := ts.h.store.CacheStats(); after > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session lookup was never answered from the cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Another instance (a second handle on the same database) ends the
// session, or deactivates its user: the cached session stops being served
// within a second (PostgreSQL: its notification; SQLite: its commit).
func TestCachedSessionEndsWithAnotherInstancesWrite(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(db *gorm.DB, u *models.User, sessionID string) error
	}{
		{"session revoked", func(db *gorm.DB, _ *models.User, id string) error {
			return db.Exec("DELETE FROM sessions WHERE id = ?", id).Error
		}},
		{"user deactivated", func(db *gorm.DB, u *models.User, _ string) error {
			return db.Model(&models.User{}).Where("id = ?", u.ID).Update("is_active", false).Error
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t)
			client, u := ts.signUpAndLogin(t, "alice", "correct horse battery")
			waitCacheHit(t, ts, client)
			other, err := models.Open(context.Background(), ts.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer models.Close(other)
			id, ok := models.SessionIDFromToken(client.sessionCookie())
			if !ok {
				t.Fatal("no session row for the cookie")
			}
			if err := c.write(other, u, id); err != nil {
				t.Fatal(err)
			}
			written := time.Now()
			for signedInAs(t, client) != "" {
				if time.Since(written) > time.Second {
					t.Fatal("the cached session was still served a second after another instance ended it")
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("anonymous %v after the other instance's commit", time.Since(written))
		})
	}
}

// A burst: 8 goroutines request pages as a dozen sessions of one user
// while another revokes them one by one through the app. A request that
// began after a revocation returned never finds that session signed in,
// cached or not.
func TestCachedSessionRevokedUnderBurst(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	const n = 12
	cookies := make([]string, n)
	ids := make([]string, n)
	for i := range cookies {
		c := ts.client(t)
		c.login("alice", "correct horse battery")
		cookies[i] = c.sessionCookie()
		var ok bool
		if ids[i], ok = models.SessionIDFromToken(cookies[i]); !ok {
			t.Fatal("no session row for a cookie")
		}
	}
	var revoked [n]atomic.Bool
	var stale, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hitsBefore, _ := ts.h.store.CacheStats()
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rand.IntN(n)
				// Read before the request begins: true means the
				// revocation had returned by then.
				was := revoked[i].Load()
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
				req.AddCookie(&http.Cookie{Name: ts.h.store.CookieName(), Value: cookies[i]})
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				requests.Add(1)
				doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
				if err != nil {
					t.Error(err)
					return
				}
				if was && strings.TrimSpace(doc.Find("[data-testid=greeting]").Text()) == "Hi alice!" {
					stale.Add(1)
				}
			}
		})
	}
	ctx := context.Background()
	time.Sleep(50 * time.Millisecond)
	for i := range ids {
		ended, err := ts.app.Accounts().RevokeOwnSession(ctx, &models.SessionUser{ID: u.ID}, "", models.SessionPublicID(ids[i]))
		if err != nil || !ended {
			t.Fatalf("revoke session %d: ended %v, %v", i, ended, err)
		}
		revoked[i].Store(true)
		// And the very next request, at once: read-your-writes does
		// not wait for a notification.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: ts.h.store.CookieName(), Value: cookies[i]})
		ts.app.Handler.ServeHTTP(rec, req)
		if doc, err := goquery.NewDocumentFromReader(rec.Body); err != nil || strings.TrimSpace(doc.Find("[data-testid=greeting]").Text()) == "Hi alice!" {
			t.Errorf("the request right after session %d was revoked: signed in (%v)", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	hits, _ := ts.h.store.CacheStats()
	t.Logf("%d requests, %d answered from the cache", requests.Load(), hits-hitsBefore)
	if s := stale.Load(); s != 0 {
		t.Fatalf("%d requests that began after their session was revoked were signed in", s)
	}
	if hits == hitsBefore {
		t.Fatal("no lookup was answered from the cache: the burst tested nothing")
	}
}
