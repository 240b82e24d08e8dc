package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models"
)

// eventCount opens an event-list link and returns the count it shows.
func eventCount(t *testing.T, c *testClient, href string) int64 {
	t.Helper()
	res := c.get(href)
	wantStatus(t, res, http.StatusOK)
	txt := res.text(t, "[data-testid=event-count]")
	n, err := strconv.ParseInt(strings.Fields(txt)[0], 10, 64)
	if err != nil {
		t.Fatalf("%s: event count %q", href, txt)
	}
	return n
}

// TestAdminSecurityOverview: /admin/ shows each series' totals over 24
// hours and 30 days as SVG bar charts and the most attacked accounts and
// addresses; every number (totals, bars, top counts) links to an event list
// that shows exactly that many events. Pure SVG and links: no inline style
// or script, so the CSP is unchanged.
func TestAdminSecurityOverview(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy)
	staff, _ := ts.createAdmin(t, "stella", true, false)
	victim := ts.createUser(t, "victim", "victim@example.com", "victim's long password")
	ctx := context.Background()
	now := time.Now().UTC()
	rec := func(kind models.EventKind, uid *uint, ip string, at time.Time) {
		t.Helper()
		if err := ts.app.core.Events.Record(ctx, models.AuthEvent{Kind: kind, UserID: uid, IP: ip, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Failed logins linked to the victim's account (as the login flow
	// records them when the name exists), from two addresses, some of
	// them days ago; sign-ups and a reset.
	for i := range 6 {
		rec(models.EventLoginFailed, &victim.ID, "198.51.100.7", now.Add(-time.Duration(i)*time.Hour))
	}
	for i := range 3 {
		rec(models.EventLoginFailed, &victim.ID, "203.0.113.50", now.Add(-time.Duration(2+i)*24*time.Hour))
	}
	rec(models.EventLoginThrottled, &victim.ID, "198.51.100.7", now.Add(-30*time.Minute))
	rec(models.EventResetRequested, nil, "192.0.2.1", now.Add(-3*time.Hour))
	rec(models.EventLoginFailed, nil, "198.51.100.7", now.Add(-40*24*time.Hour)) // outside both windows
	// Real traffic: a failed login for an unknown name from another address.
	wantStatus(t, ts.clientFrom(t, "192.0.2.99", "test").postForm("/accounts/login/", loginValues("nobody", "guess-guess")), http.StatusUnprocessableEntity)

	res := staff.get("/admin/")
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.body, "style=") || strings.Count(res.body, "<script") != 2 {
		t.Error("overview has inline style or script; the CSP would block it")
	}
	doc := res.doc(t)
	want := map[string]int64{
		"24h-failures": 7, "30d-failures": 10, "24h-throttled": 1, "30d-throttled": 1,
		"24h-resets": 1, "24h-signins": 1, "30d-signins": 1, "24h-signups": 0,
	}
	for key, n := range want {
		total := doc.Find("[data-testid=total-" + key + "]")
		if got := strings.TrimSpace(total.Text()); got != strconv.FormatInt(n, 10) {
			t.Errorf("total %s: got %q, want %d", key, got, n)
			continue
		}
		if got := eventCount(t, staff, total.AttrOr("href", "")); got != n {
			t.Errorf("total %s links to %d events, want %d", key, got, n)
		}
	}
	// Every bar links to the events it counts.
	bars := doc.Find("[data-testid=chart-24h-failures] svg a")
	if bars.Length() != 24 || doc.Find("[data-testid=chart-30d-failures] svg a").Length() != 30 {
		t.Fatalf("got %d bars in the 24h chart, want 24 (and 30 in the 30d one)", bars.Length())
	}
	var sum int64
	doc.Find("[data-testid=chart-30d-failures] svg a").Each(func(_ int, a *goquery.Selection) {
		title := a.Find("title").Text()
		n, _ := strconv.ParseInt(title[strings.LastIndex(title, " ")+1:], 10, 64)
		if h, _ := strconv.Atoi(a.Find("rect").AttrOr("height", "-1")); (n > 0) != (h > 0) {
			t.Errorf("bar %q has height %d", title, h)
		}
		if n > 0 {
			sum += n
			if got := eventCount(t, staff, a.AttrOr("href", "")); got != n {
				t.Errorf("bar %q links to %d events, want %d", title, got, n)
			}
		}
	})
	if sum != 10 {
		t.Errorf("30d failure bars add up to %d, want 10", sum)
	}
	// Top accounts and addresses, each count a link to its events.
	top := doc.Find("[data-testid=top-30d-accounts] tr").First()
	if !strings.Contains(top.Text(), "victim") || strings.TrimSpace(top.Find("[data-testid=top-count]").Text()) != "10" {
		t.Errorf("most attacked account: got %q, want victim with 10", top.Text())
	}
	if got := eventCount(t, staff, top.Find("[data-testid=top-count]").AttrOr("href", "")); got != 10 {
		t.Errorf("victim's count links to %d events, want 10", got)
	}
	addr := doc.Find("[data-testid=top-24h-addresses] tr").First()
	if !strings.Contains(addr.Text(), "198.51.100.7") || strings.TrimSpace(addr.Find("[data-testid=top-count]").Text()) != "7" {
		t.Errorf("top address: got %q, want 198.51.100.7 with 7", addr.Text())
	}
	if got := eventCount(t, staff, addr.Find("[data-testid=top-count]").AttrOr("href", "")); got != 7 {
		t.Errorf("address count links to %d events, want 7", got)
	}
	// Ordinary users may not see it.
	member := ts.client(t)
	member.login("victim", "victim's long password")
	wantStatus(t, member.get("/admin/"), http.StatusForbidden)
	wantStatus(t, member.get("/admin/events/"), http.StatusForbidden)
}

// TestAdminEventListFiltersAndPages: the list pages 50 at a time, newest
// first, filters by kind, account, address and time, and answers a filter
// it cannot read with 400.
func TestAdminEventListFiltersAndPages(t *testing.T) {
	ts := newTestServer(t)
	staff, _ := ts.createAdmin(t, "stella", true, false)
	now := time.Now().UTC()
	for i := range 60 {
		if err := ts.app.core.Events.Record(context.Background(), models.AuthEvent{Kind: models.EventLoginFailed, IP: "198.51.100.1",
			Detail: fmt.Sprintf("n=%d", i), CreatedAt: now.Add(-time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	res := staff.get("/admin/events/?kind=failures&since=24h")
	wantStatus(t, res, http.StatusOK)
	doc := res.doc(t)
	if n := doc.Find("[data-testid=event-row]").Length(); n != 50 {
		t.Fatalf("page 1: got %d rows, want 50", n)
	}
	if first := doc.Find("[data-testid=event-row]").First().Text(); !strings.Contains(first, "n=0") {
		t.Errorf("page 1 does not start with the newest: %q", first)
	}
	next := doc.Find("[data-testid=page-next]").AttrOr("href", "")
	res = staff.get(next)
	wantStatus(t, res, http.StatusOK)
	if n := res.doc(t).Find("[data-testid=event-row]").Length(); n != 10 || !strings.Contains(res.text(t, "[data-testid=page-info]"), "Page 2 of 2") {
		t.Fatalf("page 2: got %d rows, want 10", n)
	}
	for q, want := range map[string]int64{
		"kind=login_failed&since=30m": 30, "ip=198.51.100.1": 60, "ip=192.0.2.1": 0, "kind=signups": 0,
		"until=" + now.Add(-49*time.Minute).Format(time.RFC3339): 10,
	} {
		if got := eventCount(t, staff, "/admin/events/?"+q); got != want && !(strings.HasPrefix(q, "kind=login_failed") && (got == 30 || got == 31)) {
			t.Errorf("?%s: got %d events, want %d", q, got, want)
		}
	}
	for _, q := range []string{"kind=nope", "since=yesterday", "since=-5h", "until=soon", "user=abc", "user=0", "ip=not-an-ip", "page=0", "page=x"} {
		wantStatus(t, staff.get("/admin/events/?"+q), http.StatusBadRequest)
	}
}
