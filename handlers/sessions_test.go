package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
)

const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// sessionRows returns the public IDs on the sessions page, in order, and
// the one marked "this device".
func sessionRows(t *testing.T, res *response) (ids []string, current string) {
	t.Helper()
	doc := res.doc(t)
	for _, n := range doc.Find("[data-testid=own-session-row]").EachIter() {
		id, _ := n.Attr("data-session")
		ids = append(ids, id)
		if n.Find("[data-testid=session-current]").Length() == 1 {
			current = id
		}
	}
	return ids, current
}

// TestOwnSessions: the page lists every signed-in session of the user
// (newest first, browser and system parsed, address, "this device"), and
// nobody else's; one can be revoked (plain and htmx) and takes effect on
// that browser's next request; "everywhere else" keeps only this one.
func TestOwnSessions(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy)
	ts.createUser(t, "roamer", "roamer@example.com", "roamer's long password")
	ts.createUser(t, "other", "other@example.com", "other's long password")
	laptop := ts.clientFrom(t, "198.51.100.7", firefoxUA)
	laptop.login("roamer", "roamer's long password")
	phone := ts.clientFrom(t, "203.0.113.9", chromeUA)
	phone.login("roamer", "roamer's long password")
	tablet := ts.clientFrom(t, "203.0.113.10", chromeUA)
	tablet.login("roamer", "roamer's long password")
	stranger := ts.clientFrom(t, "192.0.2.1", firefoxUA)
	stranger.login("other", "other's long password")

	res := laptop.get("/accounts/sessions/")
	wantStatus(t, res, http.StatusOK)
	ids, current := sessionRows(t, res)
	if len(ids) != 3 {
		t.Fatalf("got %d sessions, want 3 (the user's only)", len(ids))
	}
	if current != ids[2] {
		t.Fatalf("this device: got %q, want the oldest row %q (laptop signed in first)", current, ids[2])
	}
	doc := res.doc(t)
	if got := doc.Find("[data-testid=session-browser]").Last().Text(); got != "Firefox 133" {
		t.Errorf("laptop browser: got %q, want Firefox 133", got)
	}
	if got := doc.Find("[data-testid=session-system]").Last().Text(); got != "Linux" {
		t.Errorf("laptop system: got %q, want Linux", got)
	}
	if got := doc.Find("[data-testid=session-browser]").First().Text(); got != "Chrome 131" {
		t.Errorf("tablet browser: got %q, want Chrome 131", got)
	}
	if got := doc.Find("[data-testid=session-ip]").Last().Text(); got != "198.51.100.7" {
		t.Errorf("laptop address: got %q, want 198.51.100.7", got)
	}
	if strings.Contains(res.body, laptop.sessionCookie()) {
		t.Fatal("the page shows the cookie token")
	}

	t.Run("another user's session ID revokes nothing", func(t *testing.T) {
		sres := stranger.get("/accounts/sessions/")
		sids, _ := sessionRows(t, sres)
		wantRedirect(t, laptop.postForm("/accounts/sessions/"+sids[0]+"/revoke/", nil), "/accounts/sessions/")
		wantStatus(t, stranger.get("/accounts/profile/"), http.StatusOK)
		wantRedirect(t, laptop.postForm("/accounts/sessions/not-an-id/revoke/", nil), "/accounts/sessions/")
	})
	t.Run("revoke one (plain)", func(t *testing.T) {
		wantStatus(t, tablet.get("/accounts/profile/"), http.StatusOK)
		res := laptop.postForm("/accounts/sessions/"+ids[0]+"/revoke/", nil)
		wantRedirect(t, res, "/accounts/sessions/")
		wantRedirect(t, tablet.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
		if e := ts.lastEvent(t, *mustUserID(t, ts, "roamer")); e.Kind != models.EventSessionRevoked {
			t.Fatalf("got event %q, want %q", e.Kind, models.EventSessionRevoked)
		}
	})
	t.Run("revoke one (htmx) answers the list, saying which browser", func(t *testing.T) {
		res := laptop.htmxPost("/accounts/sessions/"+ids[1]+"/revoke/", nil)
		wantStatus(t, res, http.StatusOK)
		doc := res.doc(t)
		if got := res.text(t, `[data-testid="sessions-notice"]`); !strings.HasPrefix(got, "Signed out ") || !strings.Contains(got, " on ") {
			t.Fatalf("htmx: notice %q, want which browser was signed out: %.1500s", got, res.body)
		}
		if doc.Find(`[data-session="`+ids[1]+`"]`).Length() != 0 {
			t.Fatalf("htmx: the revoked session is still listed: %.1500s", res.body)
		}
		wantRedirect(t, phone.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	})
	t.Run("this session is not revoked here", func(t *testing.T) {
		wantRedirect(t, laptop.postForm("/accounts/sessions/"+current+"/revoke/", nil), "/accounts/sessions/")
		wantStatus(t, laptop.get("/accounts/profile/"), http.StatusOK)
	})
	t.Run("everywhere else", func(t *testing.T) {
		again := ts.clientFrom(t, "203.0.113.11", chromeUA)
		again.login("roamer", "roamer's long password")
		wantRedirect(t, laptop.postForm("/accounts/sessions/revoke-others/", url.Values{}), "/accounts/sessions/")
		wantRedirect(t, again.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
		ids, cur := sessionRows(t, laptop.get("/accounts/sessions/"))
		if len(ids) != 1 || ids[0] != cur {
			t.Fatalf("got sessions %v (current %q), want only this one", ids, cur)
		}
		wantStatus(t, stranger.get("/accounts/profile/"), http.StatusOK)
	})
	t.Run("anonymous cannot revoke", func(t *testing.T) {
		c := ts.client(t)
		res := c.postForm("/accounts/sessions/revoke-others/", nil)
		wantStatus(t, res, http.StatusSeeOther)
		wantStatus(t, stranger.get("/accounts/profile/"), http.StatusOK)
	})
}

func mustUserID(t *testing.T, ts *testServer, username string) *uint {
	t.Helper()
	u, err := ts.users.ByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return &u.ID
}
