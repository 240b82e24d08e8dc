package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
)

func signupValues(username, email, p1, p2 string) url.Values {
	return url.Values{"username": {username}, "email": {email}, "password1": {p1}, "password2": {p2}}
}

func TestSignupCreatesAccountAndSignsIn(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	page := c.get("/accounts/signup/")
	wantStatus(t, page, http.StatusOK)
	for _, id := range []string{"#id_username", "#id_email", "#id_password1", "#id_password2"} {
		if page.doc(t).Find(id).Length() != 1 {
			t.Fatalf("signup page lacks %s", id)
		}
	}
	if got := page.doc(t).Find("#id_username").AttrOr("hx-trigger", ""); !strings.Contains(got, "delay:") {
		t.Errorf("username live check: got hx-trigger %q, want a debounced trigger", got)
	}
	res := c.postForm("/accounts/signup/", signupValues("Alice", "alice@example.com", "correct horse battery", "correct horse battery"))
	wantRedirect(t, res, "/")
	home := c.get("/")
	if got := home.text(t, "[data-testid=greeting]"); got != "Hi Alice!" {
		t.Fatalf("got greeting %q, want %q", got, "Hi Alice!")
	}
	if got := home.text(t, "[data-testid=flash]"); !strings.Contains(got, "Welcome, Alice") {
		t.Errorf("got flash %q, want a welcome", got)
	}
	u, err := ts.users.ByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" {
		t.Errorf("got email %q", u.Email)
	}
	var n int64
	ts.db.Model(&models.AuthEvent{}).Where("kind = ? AND user_id = ?", models.EventSignup, u.ID).Count(&n)
	if n != 1 {
		t.Errorf("got %d signup events, want 1", n)
	}
}

func TestSignupValidation(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "taken", "taken@example.com", "some long password")
	const good = "correct horse battery"
	cases := []struct {
		name   string
		values url.Values
		field  string
		want   string
	}{
		{"username required", signupValues("", "a@example.com", good, good), "username", "This field is required."},
		{"username invalid", signupValues("bad name!", "a@example.com", good, good), "username", "Enter a valid username"},
		{"username taken in another case", signupValues("TAKEN", "a@example.com", good, good), "username", usernameTakenError},
		{"email required", signupValues("bob", "", good, good), "email", "This field is required."},
		{"email invalid", signupValues("bob", "not-an-email", good, good), "email", "Enter a valid email address."},
		{"password required", signupValues("bob", "b@example.com", "", ""), "password1", "This field is required."},
		{"password too short", signupValues("bob", "b@example.com", "x7!k", "x7!k"), "password1", "too short"},
		{"password common", signupValues("bob", "b@example.com", "password123", "password123"), "password1", "too common"},
		{"password numeric", signupValues("bob", "b@example.com", "4829175630", "4829175630"), "password1", "entirely numeric"},
		{"password like username", signupValues("marmaduke", "b@example.com", "marmaduke1", "marmaduke1"), "password1", "too similar to the username"},
		{"passwords differ", signupValues("bob", "b@example.com", good, good+"x"), "password2", mismatchError},
		{"password2 required", signupValues("bob", "b@example.com", good, ""), "password2", "This field is required."},
		{"control characters", signupValues("bob\x00", "b@example.com", good, good), "username", "control characters"},
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
				doc := res.doc(t)
				if got := doc.Find("[data-testid=" + tc.field + "-msg] .error").Text(); !strings.Contains(got, tc.want) {
					t.Errorf("htmx=%v: got %s errors %q, want %q", htmx, tc.field, got, tc.want)
				}
				if got := doc.Find("#id_"+tc.field).AttrOr("aria-invalid", ""); got != "true" {
					t.Errorf("htmx=%v: got aria-invalid %q on %s, want true", htmx, got, tc.field)
				}
				if got, want := doc.Find("main#main").Length() > 0, !htmx; got != want {
					t.Errorf("htmx=%v: got full page %v, want %v", htmx, got, want)
				}
				if v := tc.values.Get("email"); v != "" && doc.Find("#id_email").AttrOr("value", "") != v {
					t.Errorf("email not kept")
				}
				if p := tc.values.Get("password1"); p != "" && strings.Contains(res.body, p) {
					t.Errorf("password echoed back")
				}
			}
		})
	}
	var n int64
	ts.db.Model(&models.User{}).Count(&n)
	if n != 1 {
		t.Fatalf("got %d users after failed signups, want 1", n)
	}
}

// TestSignupLiveValidation: each field's check answers only that field's
// message element, with aria state the client mirrors onto the input.
func TestSignupLiveValidation(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "taken", "taken@example.com", "some long password")
	const good = "correct horse battery"
	cases := []struct {
		field, name string
		values      url.Values
		wantErr     string
		wantOK      string
	}{
		{"username", "available", signupValues("newbie", "", "", ""), "", "This username is available."},
		{"username", "taken", signupValues("Taken", "", "", ""), usernameTakenError, ""},
		{"username", "invalid", signupValues("no spaces", "", "", ""), "Enter a valid username", ""},
		{"email", "invalid", signupValues("", "x@", "", ""), "Enter a valid email address.", ""},
		{"password1", "rules met", signupValues("bob", "b@example.com", good, ""), "", "This password meets the rules."},
		{"password1", "too common", signupValues("bob", "b@example.com", "iloveyou", ""), "too common", ""},
		{"password1", "like email", signupValues("bob", "rosalind@example.com", "rosalind!", ""), "too similar to the email address", ""},
		{"password2", "match", signupValues("bob", "", good, good), "", "The passwords match."},
		{"password2", "mismatch", signupValues("bob", "", good, "other"), mismatchError, ""},
	}
	for _, tc := range cases {
		t.Run(tc.field+" "+tc.name, func(t *testing.T) {
			res := ts.client(t).htmxPost("/accounts/signup/validate/"+tc.field+"/", tc.values)
			wantStatus(t, res, http.StatusOK)
			doc := res.doc(t)
			msg := doc.Find("#id_" + tc.field + "-msg")
			if msg.Length() != 1 || doc.Find("input").Length() != 0 {
				t.Fatalf("got %q, want only the message element", res.body)
			}
			if got := msg.Find(".error").Text(); !strings.Contains(got, tc.wantErr) || (tc.wantErr == "") != (got == "") {
				t.Errorf("got error %q, want %q", got, tc.wantErr)
			}
			if got := msg.Find(".ok").Text(); got != tc.wantOK {
				t.Errorf("got ok note %q, want %q", got, tc.wantOK)
			}
			if _, got := msg.Attr("data-invalid"); got != (tc.wantErr != "") {
				t.Errorf("got data-invalid %v, want %v", got, tc.wantErr != "")
			}
		})
	}
	res := ts.client(t).htmxPost("/accounts/signup/validate/is_staff/", url.Values{})
	wantStatus(t, res, http.StatusNotFound)
}

func TestSignupIsForGuests(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.signUpAndLogin(t, "member", "correct horse battery")
	wantRedirect(t, c.get("/accounts/signup/"), "/")
	wantStatus(t, c.postForm("/accounts/signup/", signupValues("x", "x@example.com", "correct horse battery", "correct horse battery")), http.StatusSeeOther)
	var n int64
	ts.db.Model(&models.User{}).Count(&n)
	if n != 1 {
		t.Fatalf("got %d users, want 1", n)
	}
}
