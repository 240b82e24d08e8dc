package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/auth"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

const adminPW = "admin's long password"

// createAdmin stores an account with the given privileges and returns a
// client signed in as it.
func (ts *testServer) createAdmin(t *testing.T, username string, staff, super bool) (*testClient, *models.User) {
	t.Helper()
	u, err := ts.users.Create(context.Background(), models.NewUser{
		Username: username, Email: username + "@example.com", Password: adminPW, IsStaff: staff, IsSuperuser: super,
	})
	if err != nil {
		t.Fatalf("create %q: %v", username, err)
	}
	c := ts.client(t)
	c.login(username, adminPW)
	return c, u
}

// lastEvent returns the newest security event about userID.
func (ts *testServer) lastEvent(t *testing.T, userID uint) models.AuthEvent {
	t.Helper()
	var e models.AuthEvent
	if err := ts.db.Where("user_id = ?", userID).Order("id DESC").Take(&e).Error; err != nil {
		t.Fatalf("last event of user %d: %v", userID, err)
	}
	return e
}

// wantEvent fails unless the newest event about target is kind, by actor,
// with a detail that, shown in English, contains detail.
func (ts *testServer) wantEvent(t *testing.T, target, actor uint, kind models.EventKind, detail string) {
	t.Helper()
	e := ts.lastEvent(t, target)
	if shown := models.EventDetail(context.Background(), &e); e.Kind != kind || e.ActorID == nil || *e.ActorID != actor || !strings.Contains(shown, detail) {
		got := "nil"
		if e.ActorID != nil {
			got = fmt.Sprint(*e.ActorID)
		}
		t.Fatalf("last event of user %d: got kind %q actor %s detail %q, want kind %q actor %d detail containing %q",
			target, e.Kind, got, shown, kind, actor, detail)
	}
}

// flashText is the text of every flash message on the page.
func flashText(t *testing.T, res *response) string {
	t.Helper()
	return res.doc(t).Find("[data-testid=flash]").Text()
}

func reload(t *testing.T, ts *testServer, id uint) *models.User {
	t.Helper()
	u, err := ts.users.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("reload user %d: %v", id, err)
	}
	return u
}

// signedOut fails unless c is anonymous now (the profile sends it to login).
func wantSignedOut(t *testing.T, c *testClient) {
	t.Helper()
	res := c.get("/accounts/profile/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/accounts/login/") {
		t.Fatalf("got status %d Location %q, want the client signed out", res.StatusCode, res.Header.Get("Location"))
	}
}

func wantSignedIn(t *testing.T, c *testClient) {
	t.Helper()
	wantStatus(t, c.get("/accounts/profile/"), http.StatusOK)
}

func userEdit(email string, flags map[string]bool) url.Values {
	v := url.Values{"email": {email}}
	for name, on := range flags {
		v[name] = []string{"off"}
		if on {
			v[name] = append(v[name], "on")
		}
	}
	return v
}

// adminRoutes are every admin route, with {id} for a target user.
var adminRoutes = []struct{ method, path string }{
	{"GET", "/admin/"},
	{"GET", "/admin/events/"},
	{"GET", "/admin/users/"},
	{"GET", "/admin/users/add/"},
	{"POST", "/admin/users/add/"},
	{"GET", "/admin/users/{id}/"},
	{"POST", "/admin/users/{id}/"},
	{"POST", "/admin/users/{id}/sessions/0123456789abcdef01234567/revoke/"},
	{"POST", "/admin/users/{id}/sessions/revoke-all/"},
	{"POST", "/admin/users/{id}/password-reset/"},
	{"GET", "/admin/users/{id}/password/"},
	{"POST", "/admin/users/{id}/password/"},
	{"GET", "/admin/users/{id}/delete/"},
	{"POST", "/admin/users/{id}/delete/"},
}

// TestAdminRoutesRefuseOutsiders: anonymous visitors go to login with next,
// signed-in non-staff get 403, on every admin route, GET and POST, and
// nothing changes.
func TestAdminRoutesRefuseOutsiders(t *testing.T) {
	ts := newTestServer(t)
	target := ts.createUser(t, "target", "target@example.com", "target's long password")
	member, _ := ts.signUpAndLogin(t, "member", "member's long password")
	anon := ts.client(t)
	wantStatus(t, member.get("/"), http.StatusOK)
	if member.get("/").doc(t).Find("[data-testid=nav-admin]").Length() != 0 {
		t.Error("non-staff sees the admin link")
	}
	for _, r := range adminRoutes {
		path := strings.ReplaceAll(r.path, "{id}", fmt.Sprint(target.ID))
		t.Run(r.method+" "+path, func(t *testing.T) {
			body := userEdit("evil@example.com", map[string]bool{"is_active": false, "is_superuser": true})
			body.Set("new_password1", "an evil long password")
			body.Set("new_password2", "an evil long password")
			send := func(c *testClient) *response {
				if r.method == "GET" {
					return c.get(path)
				}
				return c.postForm(path, body)
			}
			wantRedirect(t, send(anon), "/accounts/login/?next="+url.QueryEscape(path))
			res := send(member)
			wantStatus(t, res, http.StatusForbidden)
			if res.doc(t).Find("[data-testid=error-page]").AttrOr("data-status", "") != "403" {
				t.Errorf("got %q, want the 403 page", res.body)
			}
			// An htmx request is refused too (the alert goes to #messages).
			req := member.newRequest(r.method, path, strings.NewReader(body.Encode()))
			req.Header.Set("HX-Request", "true")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			wantStatus(t, member.do(req), http.StatusForbidden)
		})
	}
	u := reload(t, ts, target.ID)
	if u.Email != "target@example.com" || !u.IsActive || u.IsSuperuser {
		t.Fatalf("target changed by outsiders: %+v", u)
	}
}

// TestAdminStaffEditsButCannotGrant: staff change e-mail and active status
// of ordinary users, but not privileges, and not superusers' accounts.
func TestAdminStaffEditsButCannotGrant(t *testing.T) {
	ts := newTestServer(t)
	staff, staffUser := ts.createAdmin(t, "stella", true, false)
	_, root := ts.createAdmin(t, "root", true, true)
	target := ts.createUser(t, "tom", "tom@example.com", "tom's long password")
	tomClient := ts.client(t)
	tomClient.login("tom", "tom's long password")

	home := staff.get("/")
	if home.doc(t).Find("a[data-testid=nav-admin][href='/admin/']").Length() != 1 {
		t.Error("staff lacks the admin link in the navigation")
	}
	if ov := staff.get("/admin/"); ov.StatusCode != http.StatusOK || ov.doc(t).Find("[data-testid=admin-users-link]").Length() != 1 {
		t.Errorf("/admin/: got %d, want the overview linking to the users", ov.StatusCode)
	}
	page := staff.get(fmt.Sprintf("/admin/users/%d/", target.ID))
	wantStatus(t, page, http.StatusOK)
	doc := page.doc(t)
	if doc.Find("#id_email").AttrOr("value", "") != "tom@example.com" || doc.Find("#id_is_active[checked]").Length() != 1 {
		t.Errorf("edit form not filled in: %s", page.body)
	}
	if doc.Find("#id_is_staff, #id_is_superuser").Length() != 0 {
		t.Error("staff is offered the privilege checkboxes")
	}

	path := fmt.Sprintf("/admin/users/%d/", target.ID)
	res := staff.postForm(path, userEdit("Tom.New@EXAMPLE.com", map[string]bool{"is_active": true}))
	wantRedirect(t, res, path)
	if u := reload(t, ts, target.ID); u.Email != "Tom.New@example.com" || u.EmailKey != "tom.new@example.com" {
		t.Fatalf("got email %q key %q, want the normalised new address", u.Email, u.EmailKey)
	}
	ts.wantEvent(t, target.ID, staffUser.ID, models.EventAdminAction, "Changed email")
	if got := staff.get(path).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "was changed successfully") {
		t.Errorf("got flash %q, want the success message", got)
	}
	wantSignedIn(t, tomClient) // an e-mail change does not sign out

	// Bad address: 422, the form again with the value kept.
	res = staff.htmxPost(path, userEdit("not an address", map[string]bool{"is_active": true}))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if res.doc(t).Find("#admin-user-form #id_email[aria-invalid=true]").AttrOr("value", "") != "not an address" {
		t.Errorf("got %q, want the form fragment with the invalid address kept", res.body)
	}

	// Privileges: 403, unchanged.
	for _, flag := range []string{"is_staff", "is_superuser"} {
		wantStatus(t, staff.postForm(path, userEdit("tom@example.com", map[string]bool{flag: true})), http.StatusForbidden)
	}
	if u := reload(t, ts, target.ID); u.IsStaff || u.IsSuperuser {
		t.Fatalf("staff granted privileges: %+v", u)
	}
	// Own staff status cannot be dropped by staff either.
	wantStatus(t, staff.postForm(fmt.Sprintf("/admin/users/%d/", staffUser.ID), userEdit(staffUser.Email, map[string]bool{"is_staff": false})), http.StatusForbidden)

	// A superuser's account: visible, not changeable by staff.
	rootPath := fmt.Sprintf("/admin/users/%d/", root.ID)
	rp := staff.get(rootPath)
	wantStatus(t, rp, http.StatusOK)
	if rp.doc(t).Find("[data-testid=manage-denied]").Length() != 1 || rp.doc(t).Find("#admin-user-form").Length() != 0 {
		t.Error("staff is offered to edit a superuser")
	}
	for _, p := range []string{rootPath, rootPath + "password/", rootPath + "password-reset/", rootPath + "sessions/revoke-all/", rootPath + "delete/"} {
		wantStatus(t, staff.postForm(p, userEdit("mine@example.com", map[string]bool{"is_active": false})), http.StatusForbidden)
	}
	if u := reload(t, ts, root.ID); u.Email != "root@example.com" || !u.IsActive {
		t.Fatalf("staff changed a superuser: %+v", u)
	}
	if ts.sessionCount(t, root.ID) != 1 {
		t.Fatal("staff ended a superuser's sessions")
	}

	// Deactivation ends the user's sessions at once.
	res = staff.postForm(path, userEdit("tom@example.com", map[string]bool{"is_active": false}))
	wantRedirect(t, res, path)
	if n := ts.sessionCount(t, target.ID); n != 0 {
		t.Fatalf("got %d sessions after deactivation, want 0", n)
	}
	wantSignedOut(t, tomClient)
	ts.wantEvent(t, target.ID, staffUser.ID, models.EventUserDeactivated, "is_active=false")
}

// TestAdminSuperuserGrantsAndRemovesPrivileges: superusers grant and remove
// staff and superuser status; a privilege change ends the target's
// sessions, so elevated rights only attach to a fresh login.
func TestAdminSuperuserGrantsAndRemovesPrivileges(t *testing.T) {
	ts := newTestServer(t)
	root, rootUser := ts.createAdmin(t, "root", true, true)
	target := ts.createUser(t, "pat", "pat@example.com", "pat's long password")
	path := fmt.Sprintf("/admin/users/%d/", target.ID)
	if root.get(path).doc(t).Find("#id_is_staff, #id_is_superuser").Length() != 2 {
		t.Fatal("superuser is not offered the privilege checkboxes")
	}
	steps := []struct {
		flags       map[string]bool
		staff, supr bool
		detail      string
	}{
		{map[string]bool{"is_active": true, "is_staff": true, "is_superuser": false}, true, false, "is_staff=true"},
		{map[string]bool{"is_active": true, "is_staff": true, "is_superuser": true}, true, true, "is_superuser=true"},
		{map[string]bool{"is_active": true, "is_staff": false, "is_superuser": false}, false, false, "is_staff=false, is_superuser=false"},
	}
	for i, st := range steps {
		pc := ts.client(t)
		pc.login("pat", "pat's long password")
		wantRedirect(t, root.postForm(path, userEdit("pat@example.com", st.flags)), path)
		u := reload(t, ts, target.ID)
		if u.IsStaff != st.staff || u.IsSuperuser != st.supr {
			t.Fatalf("step %d: got staff=%v superuser=%v, want %v %v", i, u.IsStaff, u.IsSuperuser, st.staff, st.supr)
		}
		ts.wantEvent(t, target.ID, rootUser.ID, models.EventPrivilegesChanged, st.detail)
		wantSignedOut(t, pc)
	}
	// Nothing changed: no event, an info flash.
	before := ts.lastEvent(t, target.ID).ID
	wantRedirect(t, root.postForm(path, userEdit("pat@example.com", map[string]bool{"is_active": true})), path)
	if ts.lastEvent(t, target.ID).ID != before {
		t.Error("an edit changing nothing was logged")
	}
}

// TestAdminSelfLockoutGuards: nobody removes their own superuser status,
// deactivates or deletes themselves; so the last active superuser stays.
func TestAdminSelfLockoutGuards(t *testing.T) {
	ts := newTestServer(t)
	root, rootUser := ts.createAdmin(t, "root", true, true)
	self := fmt.Sprintf("/admin/users/%d/", rootUser.ID)
	for _, tc := range []struct {
		name, field string
		flags       map[string]bool
	}{
		{"own superuser", "is_superuser", map[string]bool{"is_active": true, "is_staff": true, "is_superuser": false}},
		{"deactivate self", "is_active", map[string]bool{"is_active": false, "is_staff": true, "is_superuser": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := root.postForm(self, userEdit("root@example.com", tc.flags))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if msg := res.text(t, "[data-testid="+tc.field+"-msg]"); !strings.Contains(msg, "cannot") {
				t.Errorf("got message %q under %s, want the reason", msg, tc.field)
			}
		})
	}
	// Deleting oneself: the confirmation page refuses, and so does a POST.
	wantRedirect(t, root.get(self+"delete/"), self)
	wantRedirect(t, root.postForm(self+"delete/", nil), self)
	if got := root.get(self).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "cannot delete your own account") {
		t.Errorf("got flash %q, want the refusal", got)
	}
	// Nor set one's own password without the old one.
	wantStatus(t, root.get(self+"password/"), http.StatusForbidden)
	wantStatus(t, root.postForm(self+"password/", setValues("a new long password!", "a new long password!")), http.StatusForbidden)
	u := reload(t, ts, rootUser.ID)
	if !u.IsActive || !u.IsSuperuser {
		t.Fatalf("the only superuser locked themselves out: %+v", u)
	}
	if n, _ := ts.users.CountActiveSuperusers(context.Background()); n != 1 {
		t.Fatalf("got %d active superusers, want 1", n)
	}
	wantSignedIn(t, root)
}

// TestAdminConcurrentDemotion: two superusers demote each other at the same
// moment, over HTTP; exactly one succeeds and one active superuser remains.
// (models.TestAdminUpdateDemotionRace forces the interleaving.)
func TestAdminConcurrentDemotion(t *testing.T) {
	ts := newTestServer(t)
	for round := 0; round < 5; round++ {
		a, au := ts.createAdmin(t, fmt.Sprintf("ada%d", round), true, true)
		b, bu := ts.createAdmin(t, fmt.Sprintf("bob%d", round), true, true)
		var wg sync.WaitGroup
		start := make(chan struct{})
		codes := make([]int, 2)
		for i, pair := range []struct {
			c      *testClient
			target *models.User
		}{{a, bu}, {b, au}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				path := fmt.Sprintf("/admin/users/%d/", pair.target.ID)
				res := pair.c.postForm(path, userEdit(pair.target.Email, map[string]bool{"is_active": true, "is_staff": true, "is_superuser": false}))
				// 200 stands for "demoted the other"; the loser gets 403,
				// or, when the winner's change (which ends the loser's
				// sessions) came first, a redirect to the login page.
				codes[i] = res.StatusCode
				if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == path {
					codes[i] = http.StatusOK
				}
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, c := range codes {
			if c == http.StatusOK {
				ok++
			}
		}
		// The first to be served may also finish before the other starts;
		// either way, exactly one demotion happens.
		if ok != 1 {
			t.Fatalf("round %d: got statuses %v, want exactly one success", round, codes)
		}
		if reload(t, ts, au.ID).IsSuperuser == reload(t, ts, bu.ID).IsSuperuser {
			t.Fatalf("round %d: both or neither remain superusers", round)
		}
	}
}

// TestAdminUserList: prefix search on username and e-mail in any letter
// case (no LIKE wildcards), filters, sorting, pagination with counts, and
// the htmx fragment.
func TestAdminUserList(t *testing.T) {
	ts := newTestServer(t)
	root, _ := ts.createAdmin(t, "root", true, true)
	for i := 0; i < 55; i++ {
		ts.createUser(t, fmt.Sprintf("bulk%02d", i), fmt.Sprintf("b%02d@bulk.test", i), "a long enough password")
	}
	ts.createUser(t, "Émile", "emile@Example.ORG", "a long enough password")
	ts.createUser(t, "a_b", "ab@example.com", "a long enough password")
	ts.createUser(t, "axb", "axb@example.com", "a long enough password")
	inactive := ts.createUser(t, "zed", "zed@example.com", "a long enough password")
	off := false
	if _, err := ts.app.core.Accounts.AdminUpdate(context.Background(), reloadByName(t, ts, "root").ID, inactive.ID, auth.UserChanges{IsActive: &off}); err != nil {
		t.Fatal(err)
	}

	rows := func(res *response) []string {
		var names []string
		res.doc(t).Find("[data-testid=user-table] tbody tr").Each(func(_ int, s *goquery.Selection) {
			names = append(names, strings.TrimPrefix(s.AttrOr("data-testid", ""), "user-row-"))
		})
		return names
	}
	for _, tc := range []struct {
		name, query string
		want        []string // nil: only check total and page info
		total       string
		pageInfo    string
	}{
		{"case-insensitive username", "q=éMI", []string{"Émile"}, "1 user", ""},
		{"e-mail prefix", "q=EMILE@exa", []string{"Émile"}, "1 user", ""},
		{"underscore is literal", "q=a_", []string{"a_b"}, "1 user", ""},
		{"percent matches nothing", "q=%25", []string{}, "0 users", ""},
		{"inactive filter", "active=no", []string{"zed"}, "1 user", ""},
		{"superuser filter", "superuser=yes", []string{"root"}, "1 user", ""},
		{"staff no, search", "staff=no&q=a", []string{"a_b", "axb"}, "2 users", ""},
		{"sort desc", "q=bulk&sort=-username", nil, "55 users", "Page 1 of 2"},
		{"page 2", "q=bulk&page=2", []string{"bulk50", "bulk51", "bulk52", "bulk53", "bulk54"}, "55 users", "Page 2 of 2"},
		{"page past the end", "q=bulk&page=99", nil, "55 users", "Page 2 of 2"},
		{"unknown sort is ignored", "q=a&sort=password", []string{"a_b", "axb"}, "2 users", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := root.get("/admin/users/?" + tc.query)
			wantStatus(t, res, http.StatusOK)
			if got := res.text(t, "[data-testid=user-total]"); !strings.HasPrefix(got, tc.total) {
				t.Errorf("got total %q, want %q", got, tc.total)
			}
			if tc.want != nil {
				if got := rows(res); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("got rows %v, want %v", got, tc.want)
				}
			}
			if tc.pageInfo != "" {
				if got := res.text(t, "[data-testid=page-info]"); got != tc.pageInfo {
					t.Errorf("got %q, want %q", got, tc.pageInfo)
				}
			}
		})
	}
	res := root.get("/admin/users/?q=bulk&sort=-username")
	if got := rows(res); len(got) != 50 || got[0] != "bulk54" || got[49] != "bulk05" {
		t.Errorf("sorted desc: got %d rows from %v, want 50 from bulk54 to bulk05", len(got), got)
	}
	if res.doc(t).Find("#id_q[data-testid=user-search]").AttrOr("value", "") != "bulk" {
		t.Error("the search box does not keep the query")
	}
	res = root.get("/admin/users/?sort=-date_joined")
	if got := rows(res); got[0] != "zed" {
		t.Errorf("newest first: got %v first, want zed", got[0])
	}

	// htmx gets the results region alone, with its address for the bar.
	frag := root.htmxGet("/admin/users/?q=%C3%A9mi&active=yes")
	wantStatus(t, frag, http.StatusOK)
	if strings.Contains(frag.body, "<html") || !strings.HasPrefix(strings.TrimSpace(frag.body), `<section id="user-results"`) {
		t.Fatalf("got %q, want the results fragment only", frag.body)
	}
	if got := frag.doc(t).Find("#user-results").AttrOr("data-url", ""); got != "/admin/users/?active=yes&q=%C3%A9mi" {
		t.Errorf("got data-url %q, want the canonical address", got)
	}
	// Hostile input is an empty or clear result, never an error.
	for _, q := range []string{"q=" + strings.Repeat("x", 5000), "q=%00%ff", "page=-5", "page=99999999999999999999", "sort=-", "active=maybe"} {
		wantStatus(t, root.get("/admin/users/?"+q), http.StatusOK)
	}
}

func reloadByName(t *testing.T, ts *testServer, name string) *models.User {
	t.Helper()
	u, err := ts.users.ByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// sessionPublicID is the public ID the admin shows for c's session.
func sessionPublicID(t *testing.T, c *testClient) string {
	t.Helper()
	id, ok := models.SessionIDFromToken(c.cookie(websession.SessionCookieName))
	if !ok {
		t.Fatal("client has no session cookie")
	}
	return models.SessionPublicID(id)
}

// TestAdminRevokesSessions: the user page lists sessions without exposing
// tokens or row IDs; revoking one signs out that browser on its next request
// and no other; "sign out everywhere" ends the rest.
func TestAdminRevokesSessions(t *testing.T) {
	ts := newTestServer(t)
	admin, adminUser := ts.createAdmin(t, "stella", true, false)
	u := ts.createUser(t, "uma", "uma@example.com", "uma's long password")
	laptop, phone, tablet := ts.client(t), ts.client(t), ts.client(t)
	for _, c := range []*testClient{laptop, phone, tablet} {
		c.login("uma", "uma's long password")
	}
	path := fmt.Sprintf("/admin/users/%d/", u.ID)
	page := admin.get(path)
	if n := page.doc(t).Find("[data-testid=session-row]").Length(); n != 3 {
		t.Fatalf("got %d session rows, want 3", n)
	}
	for _, c := range []*testClient{laptop, phone, tablet} {
		token := c.cookie(websession.SessionCookieName)
		rowID, _ := models.SessionIDFromToken(token)
		if strings.Contains(page.body, token) || strings.Contains(page.body, rowID) {
			t.Fatal("the user page exposes a session token or row ID")
		}
		if !strings.Contains(page.body, sessionPublicID(t, c)) {
			t.Fatal("the user page lacks a session's public ID")
		}
	}

	// htmx revoke: 200 with the row that replaces it, naming the browser.
	res := admin.htmxPost(path+"sessions/"+sessionPublicID(t, laptop)+"/revoke/", nil)
	wantStatus(t, res, http.StatusOK)
	// (A lone <tr> is dropped by an HTML parser outside a table: read it
	// as text.)
	if !strings.Contains(res.body, `data-testid="session-revoked"`) || !regexp.MustCompile(`>Signed out [^<]+ on [^<]+\.<`).MatchString(res.body) {
		t.Errorf("got %q, want a row naming the browser", res.body)
	}
	wantSignedOut(t, laptop)
	wantSignedIn(t, phone)
	ts.wantEvent(t, u.ID, adminUser.ID, models.EventSessionRevoked, "One session ended by staff")

	// Plain form revoke: redirect with a flash.
	wantRedirect(t, admin.postForm(path+"sessions/"+sessionPublicID(t, phone)+"/revoke/", nil), path)
	wantSignedOut(t, phone)
	wantSignedIn(t, tablet)
	// A session ID of another user or a made-up one ends nothing.
	wantRedirect(t, admin.postForm(path+"sessions/"+sessionPublicID(t, admin)+"/revoke/", nil), path)
	wantRedirect(t, admin.postForm(path+"sessions/not-an-id/revoke/", nil), path)
	wantSignedIn(t, admin)
	wantSignedIn(t, tablet)

	wantRedirect(t, admin.postForm(path+"sessions/revoke-all/", nil), path)
	wantSignedOut(t, tablet)
	if n := ts.sessionCount(t, u.ID); n != 0 {
		t.Fatalf("got %d sessions after sign out everywhere, want 0", n)
	}
	ts.wantEvent(t, u.ID, adminUser.ID, models.EventSessionRevoked, "Signed out everywhere by staff")

	// On one's own account, "everywhere" means everywhere else.
	other := ts.client(t)
	other.login("stella", adminPW)
	wantRedirect(t, admin.postForm(fmt.Sprintf("/admin/users/%d/sessions/revoke-all/", adminUser.ID), nil), fmt.Sprintf("/admin/users/%d/", adminUser.ID))
	wantSignedOut(t, other)
	wantSignedIn(t, admin)
}

// TestAdminDeleteUser: a confirmation page, then the POST; sessions and
// reset links go, security events stay; staff cannot delete superusers.
func TestAdminDeleteUser(t *testing.T) {
	ts := newTestServer(t)
	root, rootUser := ts.createAdmin(t, "root", true, true)
	staff, _ := ts.createAdmin(t, "stella", true, false)
	_, other := ts.createAdmin(t, "other", true, true)
	u := ts.createUser(t, "dan", "dan@example.com", "dan's long password")
	dc := ts.client(t)
	dc.login("dan", "dan's long password")
	if _, err := models.NewTokens(ts.db).Issue(context.Background(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/admin/users/%d/delete/", u.ID)
	conf := root.get(path)
	wantStatus(t, conf, http.StatusOK)
	if conf.doc(t).Find("[data-testid=delete-confirmation] form[method=post] [data-testid=delete-confirm]").Length() != 1 {
		t.Fatal("no confirmation form")
	}
	if _, err := ts.users.ByID(context.Background(), u.ID); err != nil {
		t.Fatal("GET deleted the user")
	}
	wantStatus(t, staff.get(fmt.Sprintf("/admin/users/%d/delete/", other.ID)), http.StatusForbidden)
	wantStatus(t, staff.postForm(fmt.Sprintf("/admin/users/%d/delete/", other.ID), nil), http.StatusForbidden)

	wantRedirect(t, root.postForm(path, nil), "/admin/users/")
	if _, err := ts.users.ByID(context.Background(), u.ID); err != models.ErrNotFound {
		t.Fatalf("got %v, want the user gone", err)
	}
	wantSignedOut(t, dc)
	var tokens int64
	ts.db.Model(&models.OneTimeToken{}).Where("user_id = ?", u.ID).Count(&tokens)
	if n := ts.sessionCount(t, u.ID); n != 0 || tokens != 0 {
		t.Fatalf("got %d sessions and %d reset tokens of the deleted user, want 0 and 0", n, tokens)
	}
	ts.wantEvent(t, u.ID, rootUser.ID, models.EventUserDeleted, "Deleted by staff")
	var kept int64
	ts.db.Model(&models.AuthEvent{}).Where("user_id = ? AND kind = ?", u.ID, models.EventLoginSucceeded).Count(&kept)
	if kept != 1 {
		t.Fatalf("got %d login events of the deleted user, want the 1 kept", kept)
	}
	wantStatus(t, root.get(fmt.Sprintf("/admin/users/%d/", u.ID)), http.StatusNotFound)
	wantStatus(t, root.get("/admin/users/abc/"), http.StatusNotFound)
}

// TestAdminSetPassword: the same validators as everywhere; success ends
// every session of the user, and the new password works.
func TestAdminSetPassword(t *testing.T) {
	ts := newTestServer(t)
	admin, adminUser := ts.createAdmin(t, "stella", true, false)
	u := ts.createUser(t, "vera", "vera@example.com", "vera's long password")
	vc := ts.client(t)
	vc.login("vera", "vera's long password")
	path := fmt.Sprintf("/admin/users/%d/password/", u.ID)
	wantStatus(t, admin.get(path), http.StatusOK)
	for _, tc := range []struct{ name, p1, p2, field string }{
		{"short", "short", "short", "new_password1"},
		{"numeric", "1234567890123", "1234567890123", "new_password1"},
		{"common", "password123", "password123", "new_password1"},
		{"like the username", "vera@example", "vera@example", "new_password1"},
		{"mismatch", "a brand new password", "a brand new passw0rd", "new_password2"},
		{"empty", "", "", "new_password1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := admin.htmxPost(path, setValues(tc.p1, tc.p2))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if res.doc(t).Find("#admin-set-password-form #id_"+tc.field+"[aria-invalid=true]").Length() != 1 {
				t.Errorf("got %q, want %s marked invalid", res.body, tc.field)
			}
			if strings.Contains(res.body, "value=\""+tc.p1+"\"") && tc.p1 != "" {
				t.Error("the password was echoed back")
			}
		})
	}
	wantSignedIn(t, vc)
	wantRedirect(t, admin.postForm(path, setValues("a brand new password", "a brand new password")), fmt.Sprintf("/admin/users/%d/", u.ID))
	wantSignedOut(t, vc)
	ts.wantEvent(t, u.ID, adminUser.ID, models.EventPasswordSet, "Password set by staff; 1 session ended")
	e := ts.lastEvent(t, u.ID)
	ts.client(t).login("vera", "a brand new password")
	if strings.Contains(e.Detail, "brand new") {
		t.Fatal("the security log holds the password")
	}
}

// TestAdminSendsResetEmail: the user gets a working reset link at their
// stored address, over a real SMTP server; inactive users get none.
func TestAdminSendsResetEmail(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	admin, adminUser := ts.createAdmin(t, "stella", true, false)
	u := ts.createUser(t, "Wendy", "Wendy@Example.COM", "wendy's long password")
	path := fmt.Sprintf("/admin/users/%d/", u.ID)
	wantRedirect(t, admin.postForm(path+"password-reset/", nil), path)
	if got := admin.get(path).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "on its way to Wendy@example.com") {
		t.Errorf("got flash %q, want the confirmation", got)
	}
	msg := smtpSrv.Next(t, 5*time.Second)
	if len(msg.To) != 1 || msg.To[0] != "Wendy@example.com" {
		t.Fatalf("got recipients %v, want [Wendy@example.com]", msg.To)
	}
	c := ts.client(t)
	wantRedirect(t, c.get(resetPath(t, msg)), "/accounts/reset/set-password/")
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := ts.lastEvent(t, u.ID)
		if e.Kind == models.EventResetRequested && e.ActorID != nil && *e.ActorID == adminUser.ID && models.EventDetail(context.Background(), &e) == "Link mailed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got last event %+v, want the reset mailed on the admin's request", e)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Inactive: refused with a message, nothing mailed.
	off := false
	if _, err := ts.app.core.Accounts.AdminUpdate(context.Background(), adminUser.ID, u.ID, auth.UserChanges{IsActive: &off}); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, admin.postForm(path+"password-reset/", nil), path)
	if got := admin.get(path).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "inactive") {
		t.Errorf("got flash %q, want the refusal", got)
	}
	smtpSrv.None(t, 300*time.Millisecond)
}

// TestAdminCreateUser: staff create ordinary accounts; privilege flags are
// for superusers; the validators and uniqueness apply.
func TestAdminCreateUser(t *testing.T) {
	ts := newTestServer(t)
	staff, staffUser := ts.createAdmin(t, "stella", true, false)
	root, _ := ts.createAdmin(t, "root", true, true)
	form := func(username, p1, p2 string, flags map[string]bool) url.Values {
		v := userEdit(username+"@example.com", flags)
		v.Set("username", username)
		v.Set("password1", p1)
		v.Set("password2", p2)
		return v
	}
	if staff.get("/admin/users/add/").doc(t).Find("#id_is_staff").Length() != 0 {
		t.Error("staff is offered the staff checkbox")
	}
	res := staff.postForm("/admin/users/add/", form("newbie", "a long enough password", "a long enough password", nil))
	nb := reloadByName(t, ts, "newbie")
	wantRedirect(t, res, fmt.Sprintf("/admin/users/%d/", nb.ID))
	if nb.IsStaff || !nb.IsActive {
		t.Fatalf("got %+v, want an active ordinary user", nb)
	}
	ts.wantEvent(t, nb.ID, staffUser.ID, models.EventUserCreated, "is_staff=false")
	ts.client(t).login("newbie", "a long enough password")

	wantStatus(t, staff.postForm("/admin/users/add/", form("sneaky", "a long enough password", "a long enough password", map[string]bool{"is_staff": true})), http.StatusForbidden)
	if _, err := ts.users.ByUsername(context.Background(), "sneaky"); err != models.ErrNotFound {
		t.Fatal("staff created a staff account")
	}
	for _, tc := range []struct{ name, username, p1, p2, field string }{
		{"duplicate in another case", "NEWBIE", "a long enough password", "a long enough password", "username"},
		{"bad username", "no spaces", "a long enough password", "a long enough password", "username"},
		{"short password", "fresh", "short", "short", "password1"},
		{"mismatch", "fresh", "a long enough password", "another long password", "password2"},
		{"empty", "", "", "", "username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := staff.postForm("/admin/users/add/", form(tc.username, tc.p1, tc.p2, nil))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if res.doc(t).Find("#id_"+tc.field+"[aria-invalid=true]").Length() != 1 {
				t.Errorf("got %q, want %s marked invalid", res.body, tc.field)
			}
			if res.doc(t).Find("#id_username").AttrOr("value", "") != tc.username {
				t.Error("the username typed was not kept")
			}
		})
	}
	res = root.postForm("/admin/users/add/", form("boss", "a long enough password", "a long enough password", map[string]bool{"is_superuser": true}))
	wantStatus(t, res, http.StatusSeeOther)
	if b := reloadByName(t, ts, "boss"); !b.IsSuperuser || !b.IsStaff {
		t.Fatalf("got %+v, want a superuser (and so staff)", b)
	}
}
