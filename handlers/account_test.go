package handlers

import (
	"net/http"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestProfileHub: the profile is the account hub — username, address and
// its state, and a link to every account page, each of which answers and
// shows the same navigation with itself marked current.
func TestProfileHub(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "hubber", "hubber's long password")
	res := c.get("/accounts/profile/")
	wantStatus(t, res, http.StatusOK)
	for sel, want := range map[string]string{
		"[data-testid=profile-username]":    "hubber",
		"[data-testid=profile-email]":       "hubber@example.com",
		"[data-testid=profile-email-state]": "verified",
	} {
		if got := res.text(t, sel); got != want {
			t.Errorf("%s: got %q, want %q", sel, got, want)
		}
	}
	doc := res.doc(t)
	var pages []string
	doc.Find("[data-testid=account-nav] a").Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		pages = append(pages, href)
	})
	if len(pages) < 2 {
		t.Fatalf("got account nav %v, want every account page", pages)
	}
	if cur, _ := doc.Find("[data-testid=account-nav] a[aria-current=page]").Attr("href"); cur != "/accounts/profile/" {
		t.Fatalf("got current page %q, want /accounts/profile/", cur)
	}
	links := doc.Find("[data-testid=account-links] a").Length()
	if links != len(pages)-1 {
		t.Fatalf("got %d links in the hub, want %d (every page but the hub)", links, len(pages)-1)
	}
	for _, p := range pages {
		r := c.get(p)
		wantStatus(t, r, http.StatusOK)
		if cur, _ := r.doc(t).Find("[data-testid=account-nav] a[aria-current=page]").Attr("href"); cur != p {
			t.Errorf("%s: got current nav entry %q, want %q", p, cur, p)
		}
	}
	t.Run("anonymous goes to login", func(t *testing.T) {
		wantRedirect(t, ts.client(t).get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	})
	t.Run("htmx gets the page", func(t *testing.T) {
		r := c.htmxGet("/accounts/profile/")
		wantStatus(t, r, http.StatusOK)
		if r.text(t, "[data-testid=profile-username]") != "hubber" {
			t.Fatal("htmx: no profile")
		}
	})
}
