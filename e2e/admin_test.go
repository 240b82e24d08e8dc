package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

const (
	adminUsersPath = "/admin/users/"
	// adminPassword is the superuser "root"'s password in these tests.
	adminPassword = "root's long password"
	// userPassword is every ordinary test user's password.
	userPassword = "a long enough password"
)

// adminUserPath is the admin page of the user with this ID.
func adminUserPath(id uint) string { return fmt.Sprintf("%s%d/", adminUsersPath, id) }

// newAdminApp starts the app with the superuser "root" and the given
// ordinary users (e-mail <name>@example.com), and opens a tab signed in as
// root.
func newAdminApp(t *testing.T, usernames ...string) (*app, *tab) {
	t.Helper()
	a := newApp(t)
	a.needEndpoint(t, adminUsersPath)
	a.createSuperuser(t, "root", "root@example.com", adminPassword)
	for _, u := range usernames {
		a.createUser(t, u, u+"@example.com", userPassword)
	}
	b := newTab(t, a)
	b.loginAs("root", adminPassword)
	return a, b
}

// rowsAre waits until the user list shows exactly these users, in any order.
func (b *tab) rowsAre(want ...string) {
	b.t.Helper()
	want = append([]string{}, want...) // none is [], not null
	slices.Sort(want)
	q, _ := json.Marshal(want)
	b.waitUntilOr(fmt.Sprintf("the results to list %v", want), shownRows+" === "+js(string(q)),
		func() string { return "they list " + b.textNowJS(shownRows) })
}

// shownRows is the JSON of the sorted usernames the results table lists.
const shownRows = `JSON.stringify([...document.querySelectorAll('#user-results [data-testid^="user-row-"]')]
	.map(r => r.getAttribute("data-testid").slice("user-row-".length)).sort())`

// textNowJS evaluates a string expression, "" on any error: for failure
// details only.
func (b *tab) textNowJS(expr string) string {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	return s
}

// choose picks an option of the select with this id as a person would:
// the value changes and input and change events fire.
func (b *tab) choose(id, value string) {
	b.t.Helper()
	b.do("focus #"+id, chromedp.WaitVisible(chromedp.ID(id)), chromedp.Focus(chromedp.ID(id)))
	ok := eval[bool](b, `(el => {
		if (![...el.options].some(o => o.value === `+js(value)+`)) return false;
		el.value = `+js(value)+`;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})(document.getElementById(`+js(id)+`))`)
	if !ok {
		b.t.Fatalf("#%s has no option %q", id, value)
	}
}

// Typing into the admin's search box updates the results in place: no page
// load (the window marker survives), the focus stays in the box, the
// address bar follows the search so a reload shows the same, and the
// filters narrow the results the same way.
func TestBrowserAdminLiveSearch(t *testing.T) {
	t.Parallel()
	a, b := newAdminApp(t, "alpha1", "alpha2", "beta1", "beta2", "Beatrice")
	b.open(adminUsersPath)
	b.waitUntil("htmx to load", "window.htmx && document.readyState === 'complete'")
	b.rowsAre("alpha1", "alpha2", "Beatrice", "beta1", "beta2", "root")

	b.setMarker()
	b.typeInto("id_q", "BE")
	b.rowsAre("Beatrice", "beta1", "beta2")
	// Typing on appends to what is there: the box was not swapped.
	b.do("type on into #id_q", chromedp.SendKeys(chromedp.ID("id_q"), "t"))
	b.rowsAre("beta1", "beta2")
	b.waitText(`[data-testid="user-total"]`, "2 users matching “BEt”")
	b.waitPath(adminUsersPath + "?q=BEt")
	if !b.markerSurvived() {
		t.Fatal("window marker lost: want the results swapped in place, not a page load")
	}
	if got := b.focusedID(); got != "id_q" {
		t.Errorf("focused element: got #%s, want #id_q", got)
	}
	if got := eval[string](b, `document.getElementById("id_q").value`); got != "BEt" {
		t.Errorf("search box: got %q, want BEt", got)
	}
	if r := a.lastRequest(t, "GET", adminUsersPath); !r.HTMX || r.Status != 200 {
		t.Errorf("last search request: got htmx=%v status %d, want an htmx request answered 200", r.HTMX, r.Status)
	}

	// The address the search left behind shows the same on a reload.
	b.do("reload", chromedp.Reload())
	b.waitUntil("htmx to load", "window.htmx && document.readyState === 'complete'")
	b.rowsAre("beta1", "beta2")
	if got := eval[string](b, `document.getElementById("id_q").value`); got != "BEt" {
		t.Errorf("search box after reload: got %q, want BEt", got)
	}
	if r := a.lastRequest(t, "GET", adminUsersPath); r.HTMX {
		t.Error("reload: got an htmx request, want a full page load")
	}

	// Emptying the box shows everyone again; a filter narrows them live and
	// combines with the search.
	b.setMarker()
	b.typeInto("id_q", "")
	b.rowsAre("alpha1", "alpha2", "Beatrice", "beta1", "beta2", "root")
	b.waitPath(adminUsersPath)
	b.choose("id_superuser", "no")
	b.rowsAre("alpha1", "alpha2", "Beatrice", "beta1", "beta2")
	b.waitPath(adminUsersPath + "?superuser=no")
	b.choose("id_superuser", "yes")
	b.rowsAre("root")
	b.typeInto("id_q", "b")
	b.waitText(`[data-testid="user-total"]`, "0 users matching “b”")
	b.rowsAre()
	b.waitPath(adminUsersPath + "?q=b&superuser=yes")
	if !b.markerSurvived() {
		t.Fatal("window marker lost: want the filters to swap the results in place")
	}
}

// A superuser edits a user's e-mail and active status on the user's page:
// an invalid address is refused in place, a valid one is saved with the
// success message, and the change is stored.
func TestBrowserAdminEditUser(t *testing.T) {
	t.Parallel()
	a, b := newAdminApp(t, "carol")
	b.expectStatus(422)
	carol, err := a.users.ByUsername(context.Background(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	path := adminUserPath(carol.ID)
	b.open(path)
	b.waitUntil("htmx to load", "window.htmx && document.readyState === 'complete'")

	b.setMarker()
	b.typeInto("id_email", "not an address")
	b.submitInPlace("#admin-user-form")
	if got := b.attr("#id_email", "aria-invalid"); got != "true" {
		t.Errorf("#id_email aria-invalid: got %s, want true", got)
	}
	if got := b.text("#id_email-msg"); got == "" {
		t.Error("#id_email-msg: got no message, want why the address was refused")
	}
	if !b.markerSurvived() {
		t.Fatal("window marker lost: want the refused form swapped in place")
	}
	if got := b.path(); got != path {
		t.Errorf("address after the refused edit: got %s, want %s", got, path)
	}
	if got := eval[string](b, `document.getElementById("id_email").value`); got != "not an address" {
		t.Errorf("refused form: got e-mail %q, want what was typed kept", got)
	}
	if r := a.lastRequest(t, "POST", path); !r.HTMX || r.Status != 422 {
		t.Errorf("refused edit: got htmx=%v status %d, want an htmx request answered 422", r.HTMX, r.Status)
	}
	if u, err := a.users.ByID(context.Background(), carol.ID); err != nil {
		t.Fatal(err)
	} else if u.Email != "carol@example.com" || !u.IsActive {
		t.Fatalf("after the refused edit: stored %q active=%v, want carol@example.com active", u.Email, u.IsActive)
	}

	b.typeInto("id_email", "Carol.New@Example.COM")
	b.click("#id_is_active")
	b.click(`[data-testid="user-save"]`)
	b.waitUntil("the success message", `document.querySelector('[data-testid="flash"]')?.textContent.includes("was changed successfully")`)
	b.waitPath(path)
	if got := b.text(`[data-testid="flash"] span`); got != "The user “carol” was changed successfully." {
		t.Errorf("flash: got %q, want the success message for carol", got)
	}
	if got := eval[string](b, `document.getElementById("id_email").value`); got != "Carol.New@example.com" {
		t.Errorf("page shows e-mail %q, want Carol.New@example.com", got)
	}
	if eval[bool](b, `document.getElementById("id_is_active").checked`) {
		t.Error("page shows the user active, want inactive")
	}
	if got := b.attr("#id_email", "aria-invalid"); got == "true" {
		t.Errorf("#id_email aria-invalid after saving: got %s, want not invalid", got)
	}
	u, err := a.users.ByID(context.Background(), carol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "Carol.New@example.com" || u.IsActive {
		t.Fatalf("stored %q active=%v, want Carol.New@example.com inactive", u.Email, u.IsActive)
	}
}
