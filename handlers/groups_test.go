package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gatehouse/models"
)

// TestAdminGroups: a superuser creates, renames and deletes groups and sets
// a user's groups, each recorded; staff see them but may not change them;
// the user sees their groups on their profile; bad names are 422.
func TestAdminGroups(t *testing.T) {
	ts := newTestServer(t)
	su, suUser := ts.createAdmin(t, "root", true, true)
	staff, _ := ts.createAdmin(t, "helper", true, false)
	member, mu := ts.signUpAndLogin(t, "mia", "a long enough passphrase")

	// Reachable from the admin index.
	res := su.get("/admin/")
	if href, _ := res.doc(t).Find(`[data-testid="admin-groups-link"]`).Attr("href"); href != "/admin/groups/" {
		t.Fatalf("admin index groups link: got %q", href)
	}
	wantStatus(t, su.get("/admin/groups/"), http.StatusOK)

	res = su.postForm("/admin/groups/", url.Values{"name": {"ops"}})
	wantRedirect(t, res, "/admin/groups/")
	for name, want := range map[string]string{"ops": "already exists", "": "Enter a group name", "a,b": "comma", strings.Repeat("x", 151): "150"} {
		res = su.postForm("/admin/groups/", url.Values{"name": {name}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if !strings.Contains(res.body, want) {
			t.Errorf("create %q: page lacks %q", name, want)
		}
	}
	ops, err := models.NewGroups(ts.db).ByName(t.Context(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	res = su.get("/admin/groups/")
	if got := res.text(t, `[data-testid="group-link"]`); got != "ops" {
		t.Errorf("groups list: got %q", got)
	}

	// Staff see but cannot change.
	res = staff.get("/admin/groups/")
	wantStatus(t, res, http.StatusOK)
	if res.doc(t).Find(`#group-add-form`).Length() != 0 {
		t.Error("staff are offered the add-group form")
	}
	wantStatus(t, staff.postForm("/admin/groups/", url.Values{"name": {"sneaky"}}), http.StatusForbidden)
	gid := url.PathEscape(uintString(ops.ID))
	wantStatus(t, staff.postForm("/admin/users/"+uintString(mu.ID)+"/groups/", url.Values{"group": {gid}}), http.StatusForbidden)
	wantStatus(t, staff.postForm("/admin/groups/"+gid+"/delete/", nil), http.StatusForbidden)

	// A user's groups on their admin page, set by the superuser.
	res = su.get("/admin/users/" + uintString(mu.ID) + "/")
	if res.doc(t).Find(`[data-testid="group-ops"]`).Length() != 1 {
		t.Fatalf("user page lacks the ops checkbox")
	}
	res = su.postForm("/admin/users/"+uintString(mu.ID)+"/groups/", url.Values{"group": {gid}})
	wantRedirect(t, res, "/admin/users/"+uintString(mu.ID)+"/")
	ts.wantEvent(t, mu.ID, suUser.ID, models.EventGroupsChanged, "Added to ops")
	if got := member.get("/accounts/profile/").text(t, `[data-testid="profile-groups"]`); got != "ops" {
		t.Errorf("profile groups: got %q, want ops", got)
	}
	for _, bad := range []string{"x", "0", "-1", "99999"} {
		res = su.postForm("/admin/users/"+uintString(mu.ID)+"/groups/", url.Values{"group": {bad}})
		if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusNotFound {
			t.Errorf("group=%q: got %d, want 400 or 404", bad, res.StatusCode)
		}
	}

	// Rename, then delete: the member's groups follow.
	res = su.postForm("/admin/groups/"+gid+"/", url.Values{"name": {"operations"}})
	wantRedirect(t, res, "/admin/groups/"+gid+"/")
	if got := member.get("/accounts/profile/").text(t, `[data-testid="profile-groups"]`); got != "operations" {
		t.Errorf("profile groups after rename: got %q", got)
	}
	wantRedirect(t, su.postForm("/admin/groups/", url.Values{"name": {"dev"}}), "/admin/groups/")
	res = su.postForm("/admin/groups/"+gid+"/", url.Values{"name": {"dev"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantRedirect(t, su.postForm("/admin/groups/"+gid+"/delete/", nil), "/admin/groups/")
	if got := member.get("/accounts/profile/").text(t, `[data-testid="profile-groups"]`); got != "none" {
		t.Errorf("profile groups after delete: got %q", got)
	}
	wantStatus(t, su.get("/admin/groups/"+gid+"/"), http.StatusNotFound)
	wantStatus(t, su.get("/admin/groups/abc/"), http.StatusNotFound)
	var kinds []models.EventKind
	ts.db.Model(&models.AuthEvent{}).Where("actor_id = ? AND user_id IS NULL", suUser.ID).Order("id").Pluck("kind", &kinds)
	if got := strings.TrimSpace(fmtKinds(kinds)); got != "group_created group_renamed group_created group_deleted" {
		t.Errorf("group events: got %q", got)
	}
}

func fmtKinds(k []models.EventKind) string {
	var b strings.Builder
	for _, x := range k {
		b.WriteString(string(x) + " ")
	}
	return b.String()
}

func uintString(n uint) string { return strconv.FormatUint(uint64(n), 10) }

// TestGroupCreateBurst: a parallel burst creating one group name makes one
// group; the others are told it exists.
func TestGroupCreateBurst(t *testing.T) {
	ts := newTestServer(t)
	_, su := ts.createAdmin(t, "root", true, true)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := ts.app.Accounts().AdminCreateGroup(t.Context(), su.ID, "burst")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !strings.Contains(err.Error(), "already exists") {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creations succeeded, want 1", ok)
	}
}

// TestAdminAccessRules: the rules page lists the rules and its tester says
// which rule decides for a host, a path and a user.
func TestAdminAccessRules(t *testing.T) {
	ts := newTestServer(t, withRules(t, testRules))
	su, _ := ts.createAdmin(t, "root", true, true)
	ts.createUser(t, "olga", "olga@example.com", "a long enough passphrase")
	if _, err := ts.app.Accounts().GroupAddByCommand(t.Context(), "ops", []string{"olga"}); err != nil {
		t.Fatal(err)
	}
	res := su.get("/admin/")
	if href, _ := res.doc(t).Find(`[data-testid="admin-access-link"]`).Attr("href"); href != "/admin/access/" {
		t.Fatalf("admin index access link: got %q", href)
	}
	res = su.get("/admin/access/")
	wantStatus(t, res, http.StatusOK)
	if n := res.doc(t).Find(`[data-testid="rule-row"]`).Length(); n != 5 {
		t.Errorf("got %d rule rows, want 5", n)
	}
	for _, tc := range []struct{ host, path, user, decision, rule string }{
		{"ops.internal.test", "/", "olga", "Allowed once signed in", "rule 2 (line 7)"},
		{"ops.internal.test", "/", "root", "Refused", "default_policy"},
		{"ops.internal.test", "/", "", "Sign-in required", "rule 2 (line 7)"},
		{"public.example.test", "/", "", "Anyone may enter", "rule 1 (line 5)"},
		{"secure.example.test", "/x", "root", "second factor", "rule 3 (line 10)"},
		{"app.example.test", "/admin/", "root", "Refused", "rule 4 (line 12)"},
	} {
		res := su.get("/admin/access/?" + url.Values{"host": {tc.host}, "path": {tc.path}, "username": {tc.user}}.Encode())
		wantStatus(t, res, http.StatusOK)
		if got := res.text(t, `[data-testid="access-decision"]`); !strings.Contains(got, tc.decision) {
			t.Errorf("%s%s as %q: decision %q, want %q", tc.host, tc.path, tc.user, got, tc.decision)
		}
		if got := res.text(t, `[data-testid="access-rule"]`); got != tc.rule {
			t.Errorf("%s%s as %q: rule %q, want %q", tc.host, tc.path, tc.user, got, tc.rule)
		}
	}
	for _, q := range []url.Values{{"host": {""}}, {"host": {"a b"}}, {"host": {"x.test"}, "path": {"nope"}}, {"host": {"x.test"}, "username": {"ghost"}}, {"host": {strings.Repeat("a", 10000)}}} {
		res := su.get("/admin/access/?" + q.Encode())
		wantStatus(t, res, http.StatusOK)
		if res.text(t, `[data-testid="access-test-error"]`) == "" {
			t.Errorf("%v: no error shown", q)
		}
	}
}
