package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/mail/mailtest"
	"gatehouse/models"
)

var confirmLinkRE = regexp.MustCompile(`http://example\.test(/accounts/confirm-email/[A-Za-z0-9_-]+/)`)

// confirmPath reads the confirmation link out of a delivered message.
func confirmPath(t *testing.T, m mailtest.Message) string {
	t.Helper()
	match := confirmLinkRE.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("no confirmation link in text part:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+match[0]+`"`) {
		t.Fatalf("html part lacks the link %s:\n%s", match[0], m.HTML)
	}
	return match[1]
}

// nextMails takes n delivered messages, sorted by recipient.
func nextMails(t *testing.T, srv *mailtest.Server, n int) []mailtest.Message {
	t.Helper()
	var out []mailtest.Message
	for range n {
		out = append(out, srv.Next(t, 10*time.Second))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].To[0] < out[j].To[0] })
	return out
}

// TestEmailChange: the link goes to the new address, the old one is told
// at once; nothing changes until the confirm page is POSTed (a GET
// confirms nothing); the change ends other sessions, voids reset links
// and tells the old address; the link works once.
func TestEmailChange(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	c, u := ts.signUpAndLogin(t, "mover", "mover's long password")
	other := ts.client(t)
	other.login("mover", "mover's long password")
	resetToken := ts.issueReset(t, u.ID, time.Hour)

	wantStatus(t, c.get("/accounts/email/"), http.StatusOK)
	res := c.postForm("/accounts/email/", url.Values{"email": {"Mover.New@Example.com"}})
	wantRedirect(t, res, "/accounts/email/")
	if got := flashText(t, c.get("/accounts/profile/")); !strings.Contains(got, "Mover.New@example.com") {
		t.Fatalf("got flash %q, want it to name the new address", got)
	}
	mails := nextMails(t, srv, 2)
	toNew, toOld := mails[0], mails[1]
	if toNew.To[0] != "Mover.New@example.com" || toOld.To[0] != "mover@example.com" {
		t.Fatalf("got mails to %v and %v, want the new then the old address", toNew.To, toOld.To)
	}
	if confirmLinkRE.MatchString(toOld.Text) || !strings.Contains(toOld.Text, "Mover.New@example.com") {
		t.Fatalf("old address: want a notice naming the new address and no link:\n%s", toOld.Text)
	}
	link := confirmPath(t, toNew)
	if got := c.get("/accounts/profile/").body; !strings.Contains(got, "mover@example.com") {
		t.Fatal("the address changed before confirmation")
	}

	// A link scanner (or the user) opening the link confirms nothing.
	anon := ts.client(t)
	for range 2 {
		page := anon.get(link)
		wantStatus(t, page, http.StatusOK)
		if got := page.text(t, "[data-testid=confirm-address]"); got != "Mover.New@example.com" {
			t.Fatalf("confirm page: got address %q", got)
		}
	}
	if got, _ := ts.users.ByID(t.Context(), u.ID); got.Email != "mover@example.com" {
		t.Fatalf("a GET changed the address to %q", got.Email)
	}

	wantRedirect(t, c.postForm(link, nil), "/accounts/profile/")
	got, _ := ts.users.ByID(t.Context(), u.ID)
	if got.Email != "Mover.New@example.com" || !got.EmailVerified {
		t.Fatalf("got address %q verified %t, want the new one, verified", got.Email, got.EmailVerified)
	}
	wantStatus(t, c.get("/accounts/profile/"), http.StatusOK)
	wantRedirect(t, other.get("/accounts/profile/"), "/accounts/login/?next=%2Faccounts%2Fprofile%2F")
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventEmailChanged {
		t.Fatalf("got event %q, want %q", e.Kind, models.EventEmailChanged)
	}
	notice := srv.Next(t, 10*time.Second)
	if notice.To[0] != "mover@example.com" || !strings.Contains(notice.Subject, "changed") {
		t.Fatalf("got %q to %v, want the changed notice to the old address", notice.Subject, notice.To)
	}
	wantStatus(t, c.postForm(link, nil), http.StatusBadRequest)
	wantStatus(t, anon.get(link), http.StatusBadRequest)
	wantStatus(t, anon.get("/accounts/reset/"+resetToken+"/"), http.StatusBadRequest)
}

// TestEmailChangeTakenAddress: asking for another account's address
// answers exactly as for a free one; the confirmation is refused with a
// clear page and nothing changes.
func TestEmailChangeTakenAddress(t *testing.T) {
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	ts.createUser(t, "holder", "held@example.com", "holder's long password")
	c, u := ts.signUpAndLogin(t, "asker", "asker's long password")
	free := c.postForm("/accounts/email/", url.Values{"email": {"free@example.com"}})
	taken := c.postForm("/accounts/email/", url.Values{"email": {"HELD@example.com"}})
	if free.StatusCode != taken.StatusCode || free.Header.Get("Location") != taken.Header.Get("Location") {
		t.Fatalf("free: %d %q, taken: %d %q; want the same answer", free.StatusCode, free.Header.Get("Location"), taken.StatusCode, taken.Header.Get("Location"))
	}
	var link string
	for _, m := range nextMails(t, srv, 4) {
		if m.To[0] == "HELD@example.com" {
			link = confirmPath(t, m)
		}
	}
	if link == "" {
		t.Fatal("no link mailed to the taken address")
	}
	res := c.postForm(link, nil)
	wantStatus(t, res, http.StatusConflict)
	if res.doc(t).Find("[data-testid=email-taken]").Length() != 1 {
		t.Fatal("no clear page for a taken address")
	}
	if got, _ := ts.users.ByID(t.Context(), u.ID); got.Email != "asker@example.com" {
		t.Fatalf("got address %q, want it unchanged", got.Email)
	}
}

// TestEmailChangeForm: validation (plain and htmx), sudo, the per-account
// limit, and a confirm link used in a browser not signed in.
func TestEmailChangeForm(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.PasswordResetLimitPerEmail = models.Limit{Max: 2, Window: time.Hour} })
	c, u := ts.signUpAndLogin(t, "former", "former's long password")
	for _, tc := range []struct{ name, email, want string }{
		{"empty", "", auth.MsgRequired},
		{"invalid", "not-an-address", "Enter a valid email address."},
		{"same", "FORMER@example.com", auth.MsgSameEmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.postForm("/accounts/email/", url.Values{"email": {tc.email}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if !strings.Contains(res.body, tc.want) || !strings.Contains(res.body, "<html") {
				t.Fatalf("want the page with %q; body: %.300s", tc.want, res.body)
			}
			res = c.htmxPost("/accounts/email/", url.Values{"email": {tc.email}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if res.doc(t).Find("form#email-change-form").Length() != 1 || strings.Contains(res.body, "<html") {
				t.Fatalf("htmx: want the form alone; body: %.300s", res.body)
			}
		})
	}
	res := c.htmxPost("/accounts/email/", url.Values{"email": {"one@example.com"}})
	if got := res.Header.Get("HX-Redirect"); got != "/accounts/email/" {
		t.Fatalf("htmx: got HX-Redirect %q", got)
	}
	wantRedirect(t, c.postForm("/accounts/email/", url.Values{"email": {"two@example.com"}}), "/accounts/email/")
	wantStatus(t, c.postForm("/accounts/email/", url.Values{"email": {"three@example.com"}}), http.StatusTooManyRequests)

	ts.ageReauth(t, u.ID)
	wantRedirect(t, c.get("/accounts/email/"), reauthTo("/accounts/email/"))
	wantRedirect(t, c.postForm("/accounts/email/", url.Values{"email": {"four@example.com"}}), reauthTo("/accounts/email/"))

	t.Run("bad links", func(t *testing.T) {
		anon := ts.client(t)
		for _, p := range []string{"/accounts/confirm-email/short/", "/accounts/confirm-email/" + strings.Repeat("A", 43) + "/"} {
			wantStatus(t, anon.get(p), http.StatusBadRequest)
			wantStatus(t, anon.postForm(p, nil), http.StatusBadRequest)
		}
	})
}
