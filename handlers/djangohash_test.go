package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// TestLoginUpgradesDjangoHashes: a user whose stored hash came from Django
// (hashes made by real Django, internal/passhash/testdata/django) logs in with their
// password through the whole stack, and afterwards the stored hash is
// argon2id and still takes the same password; a wrong password neither logs
// in nor touches the stored hash.
func TestLoginUpgradesDjangoHashes(t *testing.T) {
	b, err := os.ReadFile("../internal/passhash/testdata/django/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Algorithm, Password, Encoded string }
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t)
	done := map[string]bool{}
	for _, v := range vectors {
		if done[v.Algorithm] || len(v.Password) > 72 {
			continue
		}
		done[v.Algorithm] = true
		t.Run(v.Algorithm, func(t *testing.T) {
			username := "dj_" + v.Algorithm
			u := ts.createUser(t, username, username+"@example.com", "placeholder-Pass-123")
			// Setup, as an import would leave the row: the Django hash.
			if err := ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("password", v.Encoded).Error; err != nil {
				t.Fatal(err)
			}
			res := ts.client(t).postForm("/accounts/login/", url.Values{"username": {username}, "password": {"!" + v.Password}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := storedHash(t, ts, u.ID); got != v.Encoded {
				t.Fatalf("after a failed login: stored hash changed to %.20q…", got)
			}
			c := ts.client(t)
			c.login(username, v.Password)
			got := storedHash(t, ts, u.ID)
			if !strings.HasPrefix(got, "$argon2id$") {
				t.Fatalf("after login: stored hash %.20q…, want argon2id", got)
			}
			if got := c.get("/accounts/profile/"); got.StatusCode != http.StatusOK {
				t.Fatalf("profile after login: got %d, want 200", got.StatusCode)
			}
			ts.client(t).login(username, v.Password) // the upgraded hash takes the same password
			if again := storedHash(t, ts, u.ID); again != got {
				t.Errorf("second login rehashed an argon2id hash with current parameters")
			}
		})
	}
	if len(done) < 6 {
		t.Fatalf("got %d Django formats, want 6", len(done))
	}
}

// TestAdminShowsHashAlgorithmAndFiltersLegacy: the admin's user page names
// the hash algorithm (never the hash), and the list's "legacy hash" filter
// shows the users whose imported hash is not upgraded yet, until they log in.
func TestAdminShowsHashAlgorithmAndFiltersLegacy(t *testing.T) {
	ts := newTestServer(t)
	root, _ := ts.createAdmin(t, "root", true, true)
	const pbkdf2 = "pbkdf2_sha256$20000$p8Yz3n0xRq1A$OzTlWgnmVnd0ovqhCckT0t6FJbdiq/RhsqMd3AuBfQw="
	imported := ts.createUser(t, "imported", "imported@example.com", "placeholder-Pass-123")
	unusable := ts.createUser(t, "nopass", "nopass@example.com", "placeholder-Pass-123")
	ts.createUser(t, "native", "native@example.com", "placeholder-Pass-123")
	for id, hash := range map[uint]string{imported.ID: pbkdf2, unusable.ID: "!Xk2pQ8mW0rTzv4n1Ls9bYc3dFg7hJ5kA6eR0uI2o"} {
		if err := ts.db.Model(&models.User{}).Where("id = ?", id).Update("password", hash).Error; err != nil {
			t.Fatal(err)
		}
	}
	rows := func(query string) []string {
		t.Helper()
		res := root.get("/admin/users/?" + query)
		wantStatus(t, res, http.StatusOK)
		var names []string
		res.doc(t).Find("[data-testid=user-table] tbody tr").Each(func(_ int, s *goquery.Selection) {
			names = append(names, strings.TrimPrefix(s.AttrOr("data-testid", ""), "user-row-"))
		})
		return names
	}
	if got := rows("legacy=yes"); strings.Join(got, ",") != "imported" {
		t.Errorf("legacy=yes: got %v, want [imported]", got)
	}
	if got := rows("legacy=no"); strings.Join(got, ",") != "native,nopass,root" {
		t.Errorf("legacy=no: got %v, want [native nopass root]", got)
	}
	res := root.get("/admin/users/?legacy=yes")
	if res.doc(t).Find("[data-testid=user-row-imported] [data-testid=badge-legacy-hash]").Length() != 1 {
		t.Errorf("list: the imported user has no legacy-hash badge")
	}
	if v, _ := res.doc(t).Find("[data-testid=filter-legacy] option[selected]").Attr("value"); v != "yes" {
		t.Errorf("legacy filter select: got %q selected, want yes", v)
	}
	for _, tc := range []struct {
		id   uint
		want string
	}{{imported.ID, passhash.AlgPBKDF2SHA256}, {unusable.ID, passhash.AlgUnusable}} {
		page := root.get(adminUserURL(tc.id))
		wantStatus(t, page, http.StatusOK)
		if got := page.text(t, "[data-testid=hash-algorithm]"); got != tc.want {
			t.Errorf("user page: got hash algorithm %q, want %q", got, tc.want)
		}
		if strings.Contains(page.body, "p8Yz3n0xRq1A") || strings.Contains(page.body, "Xk2pQ8mW0rTzv4n1") {
			t.Errorf("user page shows the hash itself")
		}
	}
	// Logging in upgrades the hash (its password is "correct-horse-battery",
	// see below); the filter then shows nobody.
	if err := ts.db.Model(&models.User{}).Where("id = ?", imported.ID).Update("password", djangoPBKDF2(t)).Error; err != nil {
		t.Fatal(err)
	}
	ts.client(t).login("imported", "correct-horse-battery")
	if got := rows("legacy=yes"); len(got) != 0 {
		t.Errorf("legacy=yes after the login: got %v, want none", got)
	}
	if got := root.get(adminUserURL(imported.ID)).text(t, "[data-testid=hash-algorithm]"); got != passhash.AlgArgon2id {
		t.Errorf("user page after the login: got %q, want argon2id", got)
	}
}

// djangoPBKDF2 is the Django-made pbkdf2_sha256 vector of
// "correct-horse-battery".
func djangoPBKDF2(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../internal/passhash/testdata/django/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Algorithm, Password, Encoded string }
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		if v.Algorithm == "pbkdf2_sha256" && v.Password == "correct-horse-battery" {
			return v.Encoded
		}
	}
	t.Fatal("no pbkdf2_sha256 vector")
	return ""
}

func storedHash(t *testing.T, ts *testServer, id uint) string {
	t.Helper()
	u, err := ts.users.ByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Password
}
