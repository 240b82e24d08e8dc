package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/websession"
	"gatehouse/models"
)

// Fuzz targets for the form decoding of the account and admin POST
// endpoints, and for reset-link tokens, each through the whole stack: any
// body, content type or token gets a clear 4xx or the usual success, never
// a 5xx or a trace. Seeds: testdata/fuzz/<name>/ and the f.Add calls. Run
// one for longer with
// `go test ./handlers/ -run '^$' -fuzz FuzzSignupForm -fuzztime 1m`.

// formStatuses are the answers a form endpoint may give to any body: the
// success (303, or 200 with HX-Redirect), the form again (422), a request
// it cannot read (400, 413).
var formStatuses = []int{http.StatusOK, http.StatusSeeOther, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}

// fuzzForm posts body to path with the optional session cookie and checks
// the answer: a status from allowed, and a 422 that carries formID.
func fuzzForm(t *testing.T, ts *testServer, path, cookie, body, contentType string, htmx bool, allowed []int, formID string) (int, string) {
	t.Helper()
	headers := map[string]string{}
	if htmx {
		headers["HX-Request"] = "true"
	}
	if cookie != "" {
		headers["Cookie"] = websession.SessionCookieName + "=" + cookie
	}
	status, page, ok := fuzzDo(t, ts, http.MethodPost, path, contentType, body, headers)
	if !ok {
		return 0, ""
	}
	if !slices.Contains(allowed, status) {
		t.Fatalf("POST %s with body %q: got status %d, want one of %v; body: %.500s", path, body, status, allowed, page)
	}
	if status == http.StatusUnprocessableEntity && !strings.Contains(page, `id="`+formID+`"`) {
		t.Fatalf("POST %s: 422 without the form %s: %.500s", path, formID, page)
	}
	return status, page
}

// fuzzLogin signs username in over HTTP and returns the session cookie.
func fuzzLogin(tb testing.TB, ts *testServer, username, password string) string {
	tb.Helper()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(ts.URL+"/accounts/login/", url.Values{"username": {username}, "password": {password}})
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == websession.SessionCookieName && res.StatusCode == http.StatusSeeOther {
			return c.Value
		}
	}
	tb.Fatalf("login %q: got status %d and no session cookie", username, res.StatusCode)
	return ""
}

const formType = "application/x-www-form-urlencoded"

func FuzzSignupForm(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("username=newbie&email=n%40example.com&password1=correct+horse+battery&password2=correct+horse+battery", formType, false)
	f.Add("username=fuzzer&email=f%40example.com&password1=correct+horse+battery&password2=correct+horse+battery", formType, true)
	f.Add("username=%zz&email=%&password1=&password2=", formType, false)
	f.Add("username=a%00b&email=x%40y&password1=1234567890&password2=1234567890", formType, true)
	f.Add("username="+strings.Repeat("x", 200)+"&email="+strings.Repeat("e", 300)+"%40example.com", formType, false)
	f.Add("username=u&username=v&email=a%40b.c&email=", formType, false)
	f.Add("", "", false)
	f.Add("username=x", "multipart/form-data; boundary=x", true)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		fuzzForm(t, ts, "/accounts/signup/", "", body, contentType, htmx, formStatuses, "signup-form")
	})
}

// FuzzSignupValidate fuzzes the live check: the field in the path and the
// body. A known field always answers 200 with its message element alone.
func FuzzSignupValidate(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("username", "username=fuzzer", formType)
	f.Add("username", "username=%zz", formType)
	f.Add("email", "email=a%40b%40c", formType)
	f.Add("password1", "username=bob&email=b%40example.com&password1=bob12345", formType)
	f.Add("password2", "password1=x&password2=y", formType)
	f.Add("is_staff", "", "")
	f.Add("../login", "username=fuzzer&password=x", formType)
	f.Add("username/extra", "", formType)
	f.Add("%00", "a=b", "text/plain")
	f.Fuzz(func(t *testing.T, field, body, contentType string) {
		path := "/accounts/signup/validate/" + url.PathEscape(field) + "/"
		status, page, ok := fuzzDo(t, ts, http.MethodPost, path, contentType, body, map[string]string{"HX-Request": "true"})
		if !ok || !isSignupField(field) {
			return
		}
		switch status {
		case http.StatusOK:
			if !strings.Contains(page, `id="id_`+field+`-msg"`) || strings.Contains(page, "<input") {
				t.Fatalf("field %q: got %.500s, want the message element alone", field, page)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("field %q body %q: got status %d, want 200, 400 or 413", field, body, status)
		}
	})
}

// FuzzPasswordChangeForm posts as a signed-in user; after a success (which
// rotates the session) it puts the password back and signs in again.
func FuzzPasswordChangeForm(f *testing.F) {
	ts := newFuzzServer(f)
	u, err := ts.users.Create(context.Background(), models.NewUser{Username: "changer", Email: "changer@example.com", Password: fuzzPassword})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("old_password=fuzzing+is+fun+123&new_password1=another+long+secret&new_password2=another+long+secret", formType, false)
	f.Add("old_password=wrong&new_password1=another+long+secret&new_password2=another+long+secret", formType, true)
	f.Add("old_password=fuzzing+is+fun+123&new_password1=1234567890&new_password2=1234567890", formType, false)
	f.Add("old_password=%zz&new_password1=%&new_password2=", formType, true)
	f.Add("old_password="+strings.Repeat("p", 5000), formType, false)
	f.Add("", "", false)
	cookie := fuzzLogin(f, ts, "changer", fuzzPassword)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		status, _ := fuzzForm(t, ts, "/accounts/password_change/", cookie, body, contentType, htmx, formStatuses, "password-change-form")
		if status == http.StatusSeeOther || status == http.StatusOK {
			// Changed: the session was rotated. Put the password back and
			// sign in again (hashes are slow under fuzzing's coverage
			// instrumentation, so this is not done for every input).
			if _, _, err := ts.app.core.Accounts.SetPasswordByCommand(context.Background(), u.Username, fuzzPassword); err != nil {
				t.Fatal(err)
			}
			cookie = fuzzLogin(t, ts, "changer", fuzzPassword)
		}
	})
}

func FuzzPasswordResetForm(f *testing.F) {
	ts := newFuzzServer(f)
	f.Add("email=fuzzer%40example.com", formType, false)
	f.Add("email=not-an-address", formType, true)
	f.Add("email=%zz", formType, false)
	f.Add("email=a%00%40example.com&email=b%40example.com", formType, true)
	f.Add("email="+strings.Repeat("a", 400)+"%40example.com", formType, false)
	f.Add("email=x%40example.com", "text/plain", false)
	f.Add("", "", true)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		fuzzForm(t, ts, "/accounts/password_reset/", "", body, contentType, htmx, formStatuses, "password-reset-form")
	})
}

// FuzzSetPasswordForm opens a fresh reset link for each input, then posts
// the new-password form with that session.
func FuzzSetPasswordForm(f *testing.F) {
	ts := newFuzzServer(f)
	u, err := ts.users.Create(context.Background(), models.NewUser{Username: "resetter", Email: "resetter@example.com", Password: fuzzPassword})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("new_password1=another+long+secret&new_password2=another+long+secret", formType, false)
	f.Add("new_password1=short&new_password2=short", formType, true)
	f.Add("new_password1=%zz&new_password2=%", formType, false)
	f.Add("new_password1=resetter1&new_password2=resetter1", formType, true)
	f.Add("", "", false)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		token, err := ts.app.core.Tokens.Issue(context.Background(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Get(ts.URL + "/accounts/reset/" + token + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var cookie string
		for _, c := range res.Cookies() {
			if c.Name == websession.SessionCookieName {
				cookie = c.Value
			}
		}
		if res.StatusCode != http.StatusSeeOther || cookie == "" {
			t.Fatalf("open reset link: got status %d, cookie %v", res.StatusCode, cookie != "")
		}
		fuzzForm(t, ts, setPasswordURL, cookie, body, contentType, htmx, formStatuses, "set-password-form")
	})
}

// newAdminFuzzServer adds a superuser, signed in, and a target user.
func newAdminFuzzServer(f *testing.F) (ts *testServer, cookie string, target *models.User) {
	f.Helper()
	ts = newFuzzServer(f)
	if _, err := ts.users.Create(context.Background(), models.NewUser{Username: "root", Email: "root@example.com",
		Password: fuzzPassword, IsStaff: true, IsSuperuser: true}); err != nil {
		f.Fatal(err)
	}
	target, err := ts.users.Create(context.Background(), models.NewUser{Username: "target", Email: "target@example.com", Password: fuzzPassword})
	if err != nil {
		f.Fatal(err)
	}
	return ts, fuzzLogin(f, ts, "root", fuzzPassword), target
}

// FuzzAdminUserForm fuzzes the staff edit form of one user.
func FuzzAdminUserForm(f *testing.F) {
	ts, cookie, target := newAdminFuzzServer(f)
	path := fmt.Sprintf("/admin/users/%d/", target.ID)
	f.Add("email=t%40example.com&is_active=off&is_active=on&is_staff=off&is_superuser=off", formType, false)
	f.Add("email=not-an-address", formType, true)
	f.Add("is_staff=off&is_staff=on&is_superuser=on", formType, false)
	f.Add("is_active=&is_active=", formType, true)
	f.Add("email=%zz&is_active=%", formType, false)
	f.Add("email="+strings.Repeat("e", 400), formType, false)
	f.Add("", "", true)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		fuzzForm(t, ts, path, cookie, body, contentType, htmx, formStatuses, "admin-user-form")
	})
}

// FuzzAdminAddForm fuzzes the staff form that creates users.
func FuzzAdminAddForm(f *testing.F) {
	ts, cookie, _ := newAdminFuzzServer(f)
	f.Add("username=added&email=a%40example.com&password1=a+long+enough+password&password2=a+long+enough+password", formType, false)
	f.Add("username=target&password1=a+long+enough+password&password2=a+long+enough+password&is_staff=on", formType, true)
	f.Add("username=&password1=x&password2=y&is_superuser=off&is_superuser=on", formType, false)
	f.Add("username=%zz&email=%&password1=%00", formType, true)
	f.Add("", "", false)
	f.Fuzz(func(t *testing.T, body, contentType string, htmx bool) {
		fuzzForm(t, ts, "/admin/users/add/", cookie, body, contentType, htmx, formStatuses, "admin-user-add-form")
	})
}

// FuzzResetLink sends any token to the reset-link route: only a live token
// leads on to the new-password form (303); anything else is the invalid-link
// page (400), or, when the token makes another path, 404 or a redirect to
// the canonical path. Never a 5xx.
func FuzzResetLink(f *testing.F) {
	ts := newFuzzServer(f)
	u, err := ts.users.Create(context.Background(), models.NewUser{Username: "linker", Email: "linker@example.com", Password: fuzzPassword})
	if err != nil {
		f.Fatal(err)
	}
	live, err := ts.app.core.Tokens.Issue(context.Background(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: u.ID, TTL: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{live, live[:42], live + "A", strings.Repeat("A", 43), strings.Repeat("_", 43), live[:42] + "=", "", "..", "%2e%2e", "set-password", strings.Repeat("A", 5000), "a/b", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		status, page, ok := fuzzDo(t, ts, http.MethodGet, "/accounts/reset/"+url.PathEscape(token)+"/", "", "", nil)
		if !ok {
			return
		}
		switch status {
		case http.StatusSeeOther:
			if token != live {
				t.Fatalf("token %q was taken for a live link", token)
			}
		case http.StatusBadRequest:
			if !strings.Contains(page, `data-testid="invalid-reset-link"`) {
				t.Fatalf("400 without the invalid-link page: %.500s", page)
			}
		case http.StatusOK, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			if token == live {
				t.Fatalf("the live token got status %d", status)
			}
		default:
			t.Fatalf("token %q: got status %d", token, status)
		}
	})
}
