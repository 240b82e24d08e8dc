package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Look-alike and invisible usernames and shared e-mail addresses are
// refused through the whole stack: sign-up (page and htmx), the live
// username check, the admin's add and edit forms.
func TestSignupRefusesLookalikesAndSharedEmails(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "admin", "boss@example.com", "some long password")
	const good = "correct horse battery"
	cases := []struct {
		name        string
		values      url.Values
		field, want string
	}{
		{"Cyrillic a", signupValues("\u0430dmin", "a@example.com", good, good), "username", usernameTakenError},
		{"Greek capital iota", signupValues("ADM\u0399N", "a@example.com", good, good), "username", usernameTakenError},
		{"Hangul filler", signupValues("admin\u3164", "a@example.com", good, good), "username", "invisible character"},
		{"zero-width space", signupValues("ad\u200Bmin", "a@example.com", good, good), "username", "invisible character"},
		{"address taken in another case", signupValues("newcomer", "BOSS@Example.COM", good, good), "email", emailTakenError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, htmx := range []bool{false, true} {
				c := ts.client(t)
				var res *response
				if htmx {
					res = c.htmxPost("/accounts/signup/", tc.values)
				} else {
					res = c.postForm("/accounts/signup/", tc.values)
				}
				wantStatus(t, res, http.StatusUnprocessableEntity)
				if got := res.doc(t).Find("[data-testid=" + tc.field + "-msg] .error").Text(); !strings.Contains(got, tc.want) {
					t.Errorf("htmx=%v: got %s errors %q, want %q", htmx, tc.field, got, tc.want)
				}
			}
		})
	}
	// A name that only looks different is still a new account.
	c := ts.client(t)
	wantRedirect(t, c.postForm("/accounts/signup/", signupValues("admins", "admins@example.com", good, good)), "/")
}

func TestAdminRefusesSharedEmails(t *testing.T) {
	ts := newTestServer(t)
	root, _ := ts.createAdmin(t, "root", true, true)
	ts.createUser(t, "alice", "alice@example.com", "alice's long password")
	bob := ts.createUser(t, "bob", "bob@example.com", "bob's long password")

	add := userEdit("ALICE@example.com", nil)
	add.Set("username", "carol")
	add.Set("password1", "a long enough password")
	add.Set("password2", "a long enough password")
	res := root.postForm("/admin/users/add/", add)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if got := res.doc(t).Find("[data-testid=email-msg] .error").Text(); !strings.Contains(got, emailTakenError) {
		t.Errorf("admin add with a taken address: got %q, want %q", got, emailTakenError)
	}

	path := fmt.Sprintf("/admin/users/%d/", bob.ID)
	res = root.htmxPost(path, userEdit("Alice@EXAMPLE.com", map[string]bool{"is_active": true}))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if got := res.doc(t).Find("[data-testid=email-msg] .error").Text(); !strings.Contains(got, emailTakenError) {
		t.Errorf("admin edit to a taken address: got %q, want %q; body %.500s", got, emailTakenError, res.body)
	}
	if u := reload(t, ts, bob.ID); u.Email != "bob@example.com" {
		t.Errorf("bob's address after the refused edit: got %q, want it unchanged", u.Email)
	}
}

// An account whose address another account kept when addresses became
// unique (migration 00004 empties its key) is flagged on its admin page
// and stays editable without changing the address.
func TestAdminShowsSharedAddress(t *testing.T) {
	ts := newTestServer(t)
	root, _ := ts.createAdmin(t, "root", true, true)
	ts.createUser(t, "keeper", "shared@example.com", "keeper's long password")
	other := ts.createUser(t, "other", "other@example.com", "other's long password")
	// What migration 00004 leaves on the younger of two accounts that
	// shared an address.
	if err := ts.db.Exec("UPDATE users SET email = ?, email_key = '' WHERE id = ?", "Shared@example.com", other.ID).Error; err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/admin/users/%d/", other.ID)
	doc := root.get(path).doc(t)
	if got := doc.Find("#id_email-help").Text(); !strings.Contains(got, "not used for password resets") {
		t.Errorf("admin page of the account with a shared address: got help %q, want the shared-address note", got)
	}
	if got := root.get(fmt.Sprintf("/admin/users/%d/", 1)).doc(t).Find("#id_email-help").Length(); got != 0 {
		t.Errorf("admin page of an ordinary account: got %d help notes on the address, want none", got)
	}
	res := root.postForm(path, userEdit("Shared@example.com", map[string]bool{"is_active": true, "is_staff": true}))
	wantRedirect(t, res, path)
}
