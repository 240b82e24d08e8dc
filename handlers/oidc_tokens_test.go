package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// Token introspection (RFC 7662) and revocation (RFC 7009) as a real
// client calls them: plain HTTP POSTs to the endpoints discovery names,
// with client_secret_basic or client_secret_post, and the tokens a real
// code flow (x/oauth2) issued.

// introspection is the part of an RFC 7662 answer the tests read.
type introspection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id"`
	Sub      string `json:"sub"`
	Scope    string `json:"scope"`
	Username string `json:"username"`
	Exp      int64  `json:"exp"`
}

// tokenCall posts form to the endpoint as client r: auth "basic"
// (client_secret_basic), "post" (client_secret_post) or "" (no client
// authentication, the client ID alone). It returns the status and body.
func (r *rp) tokenCall(endpoint string, auth string, form url.Values) (int, string) {
	r.t.Helper()
	form = maps.Clone(form)
	if auth == "post" {
		form.Set("client_id", r.id)
		form.Set("client_secret", r.secret)
	} else if auth == "" {
		form.Set("client_id", r.id)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth == "basic" {
		req.SetBasicAuth(url.QueryEscape(r.id), url.QueryEscape(r.secret))
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// endpoints reads the introspection and revocation URLs from discovery.
func (r *rp) endpoints() (introspect, revoke string) {
	r.t.Helper()
	var d struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	if err := r.provider.Claims(&d); err != nil || d.Introspection == "" || d.Revocation == "" {
		r.t.Fatalf("discovery: %+v, %v", d, err)
	}
	return d.Introspection, d.Revocation
}

// introspect asks about token as r (client_secret_basic) and decodes
// the 200 answer.
func (r *rp) introspect(token string) introspection {
	r.t.Helper()
	endpoint, _ := r.endpoints()
	status, body := r.tokenCall(endpoint, "basic", url.Values{"token": {token}})
	if status != http.StatusOK {
		r.t.Fatalf("introspect: got %d %.300s, want 200", status, body)
	}
	var in introspection
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		r.t.Fatalf("introspect: %v in %.300s", err, body)
	}
	return in
}

// TestOIDCIntrospection: a confidential client learns that its live
// access token is active, with the user and scopes; an expired one, a
// revoked one, another client's token and garbage are inactive; a call
// without client authentication (or from a public client, which has no
// secret) is refused.
func TestOIDCIntrospection(t *testing.T) {
	ts := oidcServer(t)
	scopes := []string{gooidc.ScopeOpenID, "profile", gooidc.ScopeOfflineAccess}
	a := ts.newRP(t, oidcop.NewClient{Name: "Wiki", SkipConsent: true}, scopes...)
	b := ts.newRP(t, oidcop.NewClient{Name: "Chat", SkipConsent: true}, scopes...)
	c, _ := ts.signUpAndLogin(t, "carol", "correct horse battery")
	tok, f := a.signIn(c)
	sub := a.verify(tok, f).Sub

	in := a.introspect(tok.AccessToken)
	if !in.Active || in.ClientID != a.id || in.Sub != sub || in.Username != "carol" || !strings.Contains(in.Scope, "profile") ||
		in.Exp <= time.Now().Unix() {
		t.Errorf("live token: got %+v, want active for client %s, sub %s, carol, profile, a future exp", in, a.id, sub)
	}
	// Discovery offers client_secret_basic alone for introspection: op
	// reads no secret from the form there, so a client_secret_post call
	// is refused like an unauthenticated one.
	var d struct {
		Methods []string `json:"introspection_endpoint_auth_methods_supported"`
	}
	if err := a.provider.Claims(&d); err != nil || strings.Join(d.Methods, " ") != "client_secret_basic" {
		t.Errorf("introspection auth methods: got %v, %v; want [client_secret_basic]", d.Methods, err)
	}
	endpoint, _ := a.endpoints()
	if status, body := a.tokenCall(endpoint, "post", url.Values{"token": {tok.AccessToken}}); status != http.StatusUnauthorized || strings.Contains(body, sub) {
		t.Errorf("client_secret_post: got %d %.200s, want 401", status, body)
	}
	// Another client may not learn about it.
	if in := b.introspect(tok.AccessToken); in.Active || in.Sub != "" {
		t.Errorf("another client's token: got %+v, want inactive and nothing else", in)
	}
	// Garbage, empty and huge: inactive, never a 500.
	for _, bad := range []string{"", "x", tok.RefreshToken, strings.Repeat("A", 100_000), "%00\x01"} {
		if in := a.introspect(bad); in.Active {
			t.Errorf("introspect %.12q: active", bad)
		}
	}
	// No client authentication, a wrong secret, a public client: refused.
	pub := ts.newRP(t, oidcop.NewClient{Name: "CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, scopes...)
	wrong := *a
	wrong.secret = "not-the-secret"
	for name, call := range map[string]func() (int, string){
		"none": func() (int, string) { return a.tokenCall(endpoint, "", url.Values{"token": {tok.AccessToken}}) },
		"wrong": func() (int, string) {
			return wrong.tokenCall(endpoint, "basic", url.Values{"token": {tok.AccessToken}})
		},
		"public": func() (int, string) { return pub.tokenCall(endpoint, "", url.Values{"token": {tok.AccessToken}}) },
	} {
		if status, body := call(); status != http.StatusUnauthorized || strings.Contains(body, sub) {
			t.Errorf("%s: got %d %.200s, want 401 telling nothing", name, status, body)
		}
	}
	// Revoked (by the client itself): inactive at once.
	_, revoke := a.endpoints()
	if status, body := a.tokenCall(revoke, "basic", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); status != http.StatusOK {
		t.Fatalf("revoke: got %d %.200s", status, body)
	}
	if in := a.introspect(tok.AccessToken); in.Active {
		t.Errorf("revoked token: got %+v, want inactive", in)
	}

	// Expired: a provider whose access tokens last a second.
	short := oidcServer(t, func(c *Config) { c.OIDCAccessTokenLifetime = time.Second })
	sr := short.newRP(t, oidcop.NewClient{SkipConsent: true}, scopes...)
	sc, _ := short.signUpAndLogin(t, "dave", "correct horse battery")
	stok, _ := sr.signIn(sc)
	if in := sr.introspect(stok.AccessToken); !in.Active {
		t.Fatalf("fresh token: got %+v, want active", in)
	}
	time.Sleep(1100 * time.Millisecond)
	if in := sr.introspect(stok.AccessToken); in.Active {
		t.Errorf("expired token: got %+v, want inactive", in)
	}
	if _, err := sr.provider.UserInfo(sr.ctx, oauth2.StaticTokenSource(stok)); err == nil {
		t.Error("expired token: userinfo still answers")
	}
}

// TestOIDCRevocation: a client revokes its access token (that token
// alone: its refresh token still works) and its refresh token (the whole
// family: the refresh token and every access token of that sign-in); a
// token of another client is refused and stays valid; unknown tokens are
// fine (RFC 7009 §2.2); unauthenticated calls are refused. Each
// revocation is a security event of the account.
func TestOIDCRevocation(t *testing.T) {
	ts := oidcServer(t)
	scopes := []string{gooidc.ScopeOpenID, "profile", gooidc.ScopeOfflineAccess}
	a := ts.newRP(t, oidcop.NewClient{Name: "Wiki", SkipConsent: true}, scopes...)
	b := ts.newRP(t, oidcop.NewClient{Name: "Chat", SkipConsent: true}, scopes...)
	c, u := ts.signUpAndLogin(t, "carol", "correct horse battery")
	tok, _ := a.signIn(c)
	_, revoke := a.endpoints()
	works := func(tok *oauth2.Token) bool {
		_, err := a.provider.UserInfo(a.ctx, oauth2.StaticTokenSource(tok))
		return err == nil
	}
	if !works(tok) {
		t.Fatal("fresh access token does not work")
	}

	// Unauthenticated, or by another client: refused, nothing revoked.
	if status, _ := a.tokenCall(revoke, "", url.Values{"token": {tok.AccessToken}}); status != http.StatusUnauthorized && status != http.StatusBadRequest {
		t.Errorf("unauthenticated revoke: got %d, want 401 or 400", status)
	}
	status, body := b.tokenCall(revoke, "basic", url.Values{"token": {tok.AccessToken}})
	if status == http.StatusOK || !strings.Contains(body, "invalid_client") {
		t.Errorf("another client's token: got %d %.200s, want invalid_client", status, body)
	}
	// Another client's refresh token gets the same answer as its access
	// token (RFC 7009 §2.1: the token was not issued to the caller),
	// whatever the hint says; nothing is revoked — the check below
	// refreshes with it.
	for _, hint := range []string{"refresh_token", "access_token", ""} {
		form := url.Values{"token": {tok.RefreshToken}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		if status, body := b.tokenCall(revoke, "basic", form); status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
			t.Errorf("another client's refresh token, hint %q: got %d %.200s, want 401 invalid_client", hint, status, body)
		}
	}
	if status, body := b.tokenCall(revoke, "post", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"refresh_token"}}); status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("another client's access token, hint refresh_token: got %d %.200s, want 401 invalid_client", status, body)
	}
	if !works(tok) || !a.introspect(tok.AccessToken).Active {
		t.Fatal("a refused revocation revoked the access token")
	}
	// Unknown and garbage tokens: 200, as RFC 7009 §2.2 says.
	for _, bad := range []string{"x", strings.Repeat("A", 43), strings.Repeat("é", 3000)} {
		if status, body := a.tokenCall(revoke, "basic", url.Values{"token": {bad}}); status != http.StatusOK {
			t.Errorf("revoke %.10q: got %d %.200s, want 200", bad, status, body)
		}
	}

	// The access token alone: it stops; the refresh token still works.
	if status, body := a.tokenCall(revoke, "post", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); status != http.StatusOK {
		t.Fatalf("revoke access token: got %d %.200s", status, body)
	}
	if works(tok) {
		t.Error("revoked access token still works")
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventOIDCRevoked || !strings.Contains(e.Detail, a.id) {
		t.Errorf("event: got %s %q, want %s naming the client", e.Kind, e.Detail, models.EventOIDCRevoked)
	}
	tok2, err := a.conf.TokenSource(a.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || !works(tok2) {
		t.Fatalf("refresh after revoking the access token: %v", err)
	}

	// The refresh token: the family goes — the refresh token and the
	// access token issued with it. A wrong hint does not stop it (RFC
	// 7009 §2.1: the server extends its search).
	if status, body := a.tokenCall(revoke, "basic", url.Values{"token": {tok2.RefreshToken}, "token_type_hint": {"access_token"}}); status != http.StatusOK {
		t.Fatalf("revoke refresh token: got %d %.200s", status, body)
	}
	if works(tok2) || a.introspect(tok2.AccessToken).Active {
		t.Error("after revoking the refresh token its family's access token still works")
	}
	if _, err := a.conf.TokenSource(a.ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("revoked refresh token: got %v, want invalid_grant", err)
	}
	// Another sign-in of the same person to the same app is not that
	// family: it still works.
	tok3, _ := a.signIn(c)
	if !works(tok3) {
		t.Error("a later sign-in's token does not work")
	}
	// The account's activity page says the app gave up its access.
	res := c.get(route.URL(route.Activity))
	if !strings.Contains(res.body, models.EventWords(t.Context(), models.EventOIDCRevoked)) {
		t.Errorf("activity page does not show %q", models.EventWords(t.Context(), models.EventOIDCRevoked))
	}
}

// TestOIDCLostSecretKeySaysSo: a Gatehouse whose signing keys were sealed
// under another SECRET_KEY (the generated key file lost, a key changed)
// keeps the provider off — discovery is 404, no sub changes — and the
// admin's Apps page says so plainly, with what to restore; without any
// SECRET_KEY the page says that instead, and with the right key the
// provider is back with the same sub.
func TestOIDCLostSecretKeySaysSo(t *testing.T) {
	ts := oidcServer(t)
	r := ts.newRP(t, oidcop.NewClient{SkipConsent: true})
	c, u := ts.signUpAndLogin(t, "carol", "correct horse battery")
	tok, f := r.signIn(c)
	sub := r.verify(tok, f).Sub

	// restart is the same database under another SECRET_KEY.
	restart := func(key string) *testServer {
		cfg := ts.h.cfg
		cfg.SecretKey = key
		app := NewApp(ts.h.log, ts.db, ts.users.Hasher(), cfg)
		other := &testServer{app: app, h: app.h, db: ts.db, users: app.h.users, logs: ts.logs}
		other.Server = httptest.NewServer(app.Routes())
		t.Cleanup(other.Server.Close)
		return other
	}
	for _, tc := range []struct {
		name, key string
		want      []string
	}{
		{"another key", "a-different-secret-key-of-more-than-32-characters", []string{"made with another SECRET_KEY", ".secret-key", "restart", "sub"}},
		{"no key", "", []string{"made with another SECRET_KEY", ".secret-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := restart(tc.key)
			if other.app.core.OIDC != nil || !errors.Is(other.app.core.OIDCOff, oidcop.ErrKeysSealed) {
				t.Fatalf("provider: %v, off %v; want off with ErrKeysSealed", other.app.core.OIDC, other.app.core.OIDCOff)
			}
			if res := other.client(t).get("/.well-known/openid-configuration"); res.StatusCode != http.StatusNotFound {
				t.Errorf("discovery: got %d, want 404 (off)", res.StatusCode)
			}
			admin, _ := other.createAdmin(t, "boss-"+strings.ReplaceAll(tc.name, " ", "-"), true, true)
			res := admin.get(route.URL(route.AdminOIDCClients))
			wantStatus(t, res, http.StatusOK)
			msg := res.text(t, `[data-testid="oidc-off"]`)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("admin message %q does not say %q", msg, w)
				}
			}
		})
	}
	// A fresh site without a key is told to set one, not to restore one.
	fresh := newTestServer(t)
	admin, _ := fresh.createAdmin(t, "root", true, true)
	if msg := admin.get(route.URL(route.AdminOIDCClients)).text(t, `[data-testid="oidc-off"]`); !strings.Contains(msg, "set SECRET_KEY") || strings.Contains(msg, "another") {
		t.Errorf("fresh site without a key: %q", msg)
	}
	// The right key again: the provider is back, and carol's sub is the
	// same.
	back := restart(testSecretKey)
	if back.app.core.OIDC == nil {
		t.Fatalf("with the old key the provider stays off: %v", back.app.core.OIDCOff)
	}
	if got := back.app.core.OIDC.Subject(u.ID); got != sub {
		t.Errorf("sub after restoring the key: got %q, want %q", got, sub)
	}
}

// logoutReceiver is an app's back-channel logout endpoint: it keeps each
// logout_token POSTed to it, answering 500 to the first fail of them.
type logoutReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	fail   int
	tokens chan string
}

func newLogoutReceiver(t *testing.T, fail int) *logoutReceiver {
	lr := &logoutReceiver{fail: fail, tokens: make(chan string, 16)}
	lr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		lr.mu.Lock()
		failing := lr.fail > 0
		lr.fail--
		lr.mu.Unlock()
		if failing {
			http.Error(w, "down for a moment", http.StatusInternalServerError)
			return
		}
		lr.tokens <- r.PostFormValue("logout_token")
	}))
	t.Cleanup(lr.Close)
	return lr
}

// next waits for the next logout token.
func (lr *logoutReceiver) next(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-lr.tokens:
		return tok
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token within 10 s")
		return ""
	}
}

// none fails if a logout token arrives within wait.
func (lr *logoutReceiver) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case <-lr.tokens:
		t.Error("an unexpected logout token arrived")
	case <-time.After(wait):
	}
}

// logoutClaims are a logout token's claims the tests read.
type logoutClaims struct {
	Sub    string         `json:"sub"`
	Sid    string         `json:"sid"`
	JTI    string         `json:"jti"`
	Nonce  *string        `json:"nonce"`
	Events map[string]any `json:"events"`
}

// verifyLogout checks a logout token as the app would (go-oidc: the
// signature against the JWKS, issuer, audience, expiry) and returns its
// claims, failing unless it is a back-channel logout event without a
// nonce (§2.4).
func (r *rp) verifyLogout(raw string) logoutClaims {
	r.t.Helper()
	tok, err := r.provider.Verifier(&gooidc.Config{ClientID: r.id}).Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify logout token: %v", err)
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		r.t.Fatal(err)
	}
	if _, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok || c.Nonce != nil || c.JTI == "" {
		r.t.Fatalf("logout token claims: %+v", c)
	}
	return c
}

// TestOIDCBackchannelLogout: an app that registered a back-channel
// logout URI hears, by a signed logout token naming the person's sub,
// when their sign-ins to it end — sign out everywhere (retried after the
// app answered 500), "Remove access", account deletion; apps without a
// URI, or that the person never signed in to, hear nothing. Discovery
// says back-channel logout is supported, with sessions (sid). These
// flows end every sign-in of the person: their tokens carry no sid.
func TestOIDCBackchannelLogout(t *testing.T) {
	ts := oidcServer(t)
	lr := newLogoutReceiver(t, 1)
	other := newLogoutReceiver(t, 0)
	scopes := []string{gooidc.ScopeOpenID, "profile"}
	a := ts.newRP(t, oidcop.NewClient{Name: "Wiki", SkipConsent: true, BackchannelLogoutURI: lr.URL + "/backchannel"}, scopes...)
	b := ts.newRP(t, oidcop.NewClient{Name: "Chat", SkipConsent: true}, scopes...)
	ts.newRP(t, oidcop.NewClient{Name: "Unused", SkipConsent: true, BackchannelLogoutURI: other.URL + "/backchannel"}, scopes...)
	var d struct {
		Supported bool  `json:"backchannel_logout_supported"`
		Session   *bool `json:"backchannel_logout_session_supported"`
	}
	if err := a.provider.Claims(&d); err != nil || !d.Supported || d.Session == nil || !*d.Session {
		t.Errorf("discovery: %+v, %v", d, err)
	}

	c, _ := ts.signUpAndLogin(t, "carol", "correct horse battery")
	tok, f := a.signIn(c)
	sub := a.verify(tok, f).Sub
	b.signIn(c)

	// Sign out everywhere: the first POST meets a 500, the outbox
	// retries, the app gets a token for carol.
	if res := c.postForm(route.URL(route.SessionsRevokeOthers), nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: got %d", res.StatusCode)
	}
	if got := a.verifyLogout(lr.next(t)); got.Sub != sub || got.Sid != "" {
		t.Errorf("logout token: got sub %q sid %q, want carol's %q and no sid", got.Sub, got.Sid, sub)
	}

	// Remove access on the apps page.
	a.signIn(c)
	wantRedirect(t, c.postForm(route.URL(route.AppRemove, a.id), nil), route.URL(route.Apps))
	if got := a.verifyLogout(lr.next(t)); got.Sub != sub {
		t.Errorf("remove access: sub %q, want %q", got.Sub, sub)
	}

	// Deleting the account: the app hears even though the account and
	// its grants are gone by the time the job runs.
	a.signIn(c)
	if res := c.postForm(route.URL(route.Delete), url.Values{"password": {"correct horse battery"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: got %d %.300s", res.StatusCode, res.body)
	}
	if got := a.verifyLogout(lr.next(t)); got.Sub != sub {
		t.Errorf("deletion: sub %q, want %q", got.Sub, sub)
	}
	other.none(t, 300*time.Millisecond)
	// Delivered jobs keep no trace of whom they were about.
	var kept []models.OutboxMessage
	ts.db.Where("kind = ?", models.KindOIDCBackchannelLogout).Find(&kept)
	for _, m := range kept {
		if m.SentAt != nil && m.Payload != "{}" {
			t.Errorf("a delivered back-channel job keeps its payload %q", m.Payload)
		}
	}
	if len(kept) != 3 {
		t.Errorf("%d back-channel jobs, want 3 (one per ending, one app)", len(kept))
	}
	lr.none(t, 100*time.Millisecond)
}
