package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
)

// The session lookup is cached until the database changes
// (internal/readcache, models.Changes); readcache_test.go changes the
// database from another handle. Here the app itself revokes sessions under
// load, on both databases: on PostgreSQL only this process's own commits
// are exact (another instance's are at most 100 ms behind), and this holds
// them to it.

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
	revoked := make([]atomic.Bool, n)
	hitsBefore, _ := ts.h.store.CacheStats()
	counts, stop := browseBurst(t, ts, cookies, revoked, "Hi alice!")
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
	stop()
	hits, _ := ts.h.store.CacheStats()
	t.Logf("%d requests, %d answered from the cache", counts.requests.Load(), hits-hitsBefore)
	if s := counts.signedInAfter.Load(); s != 0 {
		t.Fatalf("%d requests that began after their session was revoked were signed in", s)
	}
	if hits == hitsBefore {
		t.Fatal("no lookup was answered from the cache: the burst tested nothing")
	}
}
