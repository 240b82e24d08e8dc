package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"gatehouse/models"
)

// TestLoginUpgradesDjangoHashes: a user whose stored hash came from Django
// (hashes made by real Django, models/testdata/django) logs in with their
// password through the whole stack, and afterwards the stored hash is
// argon2id and still takes the same password; a wrong password neither logs
// in nor touches the stored hash.
func TestLoginUpgradesDjangoHashes(t *testing.T) {
	b, err := os.ReadFile("../models/testdata/django/vectors.json")
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

func storedHash(t *testing.T, ts *testServer, id uint) string {
	t.Helper()
	u, err := ts.users.ByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Password
}
