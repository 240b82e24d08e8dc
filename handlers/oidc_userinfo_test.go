package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// TestOIDCUserinfoMatchesOp: Gatehouse serves the userinfo endpoint
// itself (oidcop.Provider.Userinfo, without op's claims-map JSON), and
// its answers are op's own Userinfo handler's, claim for claim and status
// for status, over every scope combination, a user in no group and in
// two, an unverified and a verified address, a token that does not open,
// none at all and an expired one. op's handler is reached
// directly (the provider's Handler; the app's router no longer routes the
// path to it), through the same storage.
func TestOIDCUserinfoMatchesOp(t *testing.T) {
	ts := oidcServer(t)
	routes, opHandler := ts.app.Routes(), ts.app.core.OIDC.Handler()
	// ask sends the same request to both and compares the answers.
	ask := func(t *testing.T, method, authz, body string) (int, map[string]any) {
		t.Helper()
		answer := func(h http.Handler) (int, string, string) {
			req := httptest.NewRequest(method, route.URL(route.OIDCUserinfo), strings.NewReader(body))
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set("Origin", "https://spa.example.com")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin: got %q, want *", got)
			}
			return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
		}
		gotStatus, gotType, gotBody := answer(routes)
		wantStatus, wantType, wantBody := answer(opHandler)
		if gotStatus != wantStatus || !strings.HasPrefix(gotType, strings.Split(wantType, ";")[0]) {
			t.Fatalf("got %d %s %q, op answers %d %s %q", gotStatus, gotType, gotBody, wantStatus, wantType, wantBody)
		}
		if wantStatus == http.StatusUnauthorized {
			if strings.TrimSpace(gotBody) != strings.TrimSpace(wantBody) {
				t.Errorf("401 body: got %q, op says %q", gotBody, wantBody)
			}
			return gotStatus, nil
		}
		var got, want map[string]any
		if err := json.Unmarshal([]byte(gotBody), &got); err != nil {
			t.Fatalf("%v in %q", err, gotBody)
		}
		if err := json.Unmarshal([]byte(wantBody), &want); err != nil {
			t.Fatalf("op: %v in %q", err, wantBody)
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("claims: got %s, op answers %s", gj, wj)
		}
		return gotStatus, got
	}

	c, u := ts.signUpAndLogin(t, "uma", "correct horse battery")
	for _, scopes := range [][]string{
		{gooidc.ScopeOpenID},
		{gooidc.ScopeOpenID, "profile"},
		{gooidc.ScopeOpenID, "email"},
		{gooidc.ScopeOpenID, oidcop.ScopeGroups},
		{gooidc.ScopeOpenID, "profile", "email", oidcop.ScopeGroups},
	} {
		t.Run(strings.Join(scopes, "+"), func(t *testing.T) {
			r := ts.newRP(t, oidcop.NewClient{SkipConsent: true}, scopes...)
			tok, _ := r.signIn(c)
			bearer := "Bearer " + tok.AccessToken
			for _, step := range []struct {
				name  string
				setup func()
			}{
				{"unverified, no group", func() {}},
				{"verified, two groups", func() {
					ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", true)
					for _, g := range []string{"ops", "dev"} {
						if _, err := ts.app.Accounts().GroupAddByCommand(t.Context(), g, []string{"uma"}); err != nil {
							t.Fatal(err)
						}
					}
				}},
			} {
				step.setup()
				status, claims := ask(t, http.MethodGet, bearer, "")
				if status != http.StatusOK || claims["sub"] != ts.app.core.OIDC.Subject(u.ID) {
					t.Errorf("%s: got %d %v", step.name, status, claims)
				}
				_, hasGroups := claims["groups"]
				if want := strings.Contains(strings.Join(scopes, " "), oidcop.ScopeGroups); hasGroups != want {
					t.Errorf("%s: groups claim present %v, want %v: %v", step.name, hasGroups, want, claims)
				}
				// POST with the token in the form (RFC 6750 §2.2).
				ask(t, http.MethodPost, "", "access_token="+tok.AccessToken)
			}
			// Groups and address back as they were for the next scopes.
			ts.db.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", false)
			for _, g := range []string{"ops", "dev"} {
				if _, err := ts.app.Accounts().GroupRemoveByCommand(t.Context(), g, []string{"uma"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, bad := range []string{"", "Bearer ", "Bearer x", bearer + "x", "Bearer " + strings.Repeat("A", 5000), "Basic " + tok.AccessToken} {
				if status, _ := ask(t, http.MethodGet, bad, ""); status == http.StatusOK {
					t.Errorf("%.30q: got 200", bad)
				}
			}
			ts.db.Model(&models.OIDCToken{}).Where("user_id = ? AND kind = ?", u.ID, models.OIDCAccess).
				Update("expires_at", time.Now().UTC().Add(-time.Second))
			if status, claims := ask(t, http.MethodGet, bearer, ""); status != http.StatusForbidden || claims["error"] != "access_denied" {
				t.Errorf("expired: got %d %v, want 403 access_denied", status, claims)
			}
		})
	}
}
