package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
)

// fakeGitHub serves GitHub's OAuth and API endpoints with the shapes of
// its real answers: /login/oauth/authorize redirects back with a code,
// /login/oauth/access_token (form-encoded client credentials, PKCE
// verifier checked against the challenge) answers like GitHub does, /user
// and /user/emails need the bearer token.
type fakeGitHub struct {
	*httptest.Server
	mu     sync.Mutex
	codes  map[string]string // code -> S256 challenge
	user   map[string]any
	emails []map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-client" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		g.mu.Lock()
		g.codes[code] = q.Get("code_challenge")
		g.mu.Unlock()
		to, _ := url.Parse(q.Get("redirect_uri"))
		to.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		g.mu.Lock()
		challenge, ok := g.codes[r.PostForm.Get("code")]
		delete(g.codes, r.PostForm.Get("code"))
		g.mu.Unlock()
		if r.PostForm.Get("client_id") != "gh-client" || r.PostForm.Get("client_secret") != "gh-secret" || !ok ||
			s256(r.PostForm.Get("code_verifier")) != challenge {
			// GitHub answers 200 with an error body.
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code",
				"error_description": "The code passed is incorrect or expired.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_faketoken", "token_type": "bearer", "scope": "read:user,user:email"})
	})
	api := func(v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_faketoken" {
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"})
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			g.mu.Lock()
			defer g.mu.Unlock()
			_ = json.NewEncoder(w).Encode(v())
		}
	}
	mux.HandleFunc("/api/user", api(func() any { return g.user }))
	mux.HandleFunc("/api/user/emails", api(func() any { return g.emails }))
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) provider() upstream.ProviderConfig {
	return upstream.ProviderConfig{ID: "github", Type: upstream.TypeGitHub, Name: "GitHub", ClientID: "gh-client", ClientSecret: "gh-secret",
		Scopes: []string{"read:user", "user:email"}, AuthURL: g.URL + "/login/oauth/authorize",
		TokenURL: g.URL + "/login/oauth/access_token", APIURL: g.URL + "/api"}
}

func (g *fakeGitHub) set(id int, login string, emails ...map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.user = map[string]any{"login": login, "id": id, "node_id": "MDQ6VXNlcjE=", "type": "User", "name": "The " + login,
		"email": nil, "site_admin": false}
	g.emails = emails
}

func ghEmail(addr string, primary, verified bool) map[string]any {
	return map[string]any{"email": addr, "primary": primary, "verified": verified, "visibility": "private"}
}

func TestGitHubSignInNewAndTakeover(t *testing.T) {
	g := newFakeGitHub(t)
	ts := newTestServer(t, withProviders(g.provider()), func(c *Config) { c.SocialEmailAuthentication = true })
	ts.createUser(t, "victim", "victim@example.com", "correct horse battery")
	ghLogin := func(c *testClient) *response {
		cb := atProvider(t, startUpstream(t, c, route.URL(route.GitHubLogin), nil))
		if !strings.HasPrefix(cb, route.URL(route.GitHubCallback)+"?") {
			t.Fatalf("GitHub sent the browser to %q", cb)
		}
		return c.get(cb)
	}

	t.Run("verified primary address: new person", func(t *testing.T) {
		g.set(583231, "octocat", ghEmail("octo@users.example", false, true), ghEmail("octocat@github.example", true, true))
		c := ts.client(t)
		wantRedirect(t, ghLogin(c), route.URL(route.SocialSignup))
		form := c.get(route.URL(route.SocialSignup))
		if v, _ := form.doc(t).Find(`input[name="username"]`).Attr("value"); v != "octocat" {
			t.Fatalf("username suggestion %q, want octocat", v)
		}
		if v, _ := form.doc(t).Find(`input[name="email"]`).Attr("value"); v != "octocat@github.example" {
			t.Fatalf("address %q, want the primary octocat@github.example", v)
		}
		wantRedirect(t, c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"octocat"}, "email": {"octocat@github.example"}}), "/")
		if got := signedInAs(t, c); got != "octocat" {
			t.Fatalf("signed in as %q", got)
		}
		// Again: straight in.
		c2 := ts.client(t)
		wantRedirect(t, ghLogin(c2), "/")
		if got := signedInAs(t, c2); got != "octocat" {
			t.Fatalf("second sign-in as %q", got)
		}
	})
	t.Run("someone else's address, unverified at GitHub (setting on)", func(t *testing.T) {
		g.set(999, "mallory", ghEmail("victim@example.com", true, false))
		c := ts.client(t)
		wantStatus(t, ghLogin(c), http.StatusConflict)
		if signedInAs(t, c) != "" {
			t.Fatal("taken over through an unverified GitHub address")
		}
	})
	t.Run("a bad code", func(t *testing.T) {
		g.set(1000, "x", ghEmail("x@example.com", true, true))
		c := ts.client(t)
		cb := atProvider(t, startUpstream(t, c, route.URL(route.GitHubLogin), nil))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("code", "stale")
		u.RawQuery = q.Encode()
		res := c.get(u.String())
		wantStatus(t, res, http.StatusBadRequest)
		if res.doc(t).Find(`[data-testid="social-error"]`).Length() != 1 {
			t.Fatalf("not the error page: %s", res.body)
		}
	})
}

// s256 is the PKCE S256 challenge of verifier (RFC 7636).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
