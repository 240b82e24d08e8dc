package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/secret"
	"gatehouse/models"
)

// TestOIDCClientCommand: add prints the client ID and (confidential
// clients only) the secret once, stored hashed; list shows the clients
// without secrets; remove deletes; bad input is a usage error.
func TestOIDCClientCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "oidc.db"), "HASH_CONCURRENCY": "1"}
	out, err := runCmd(t, env, "", "oidc-client", "add", "--name", "Grafana", "--redirect-uri", "https://grafana.example.com/login/generic_oauth",
		"--redirect-uri", "https://grafana.example.com/other", "--post-logout-redirect-uri", "https://grafana.example.com/", "--skip-consent",
		"--backchannel-logout-uri", "https://grafana.example.com/logout/backchannel", "--id-token-signed-response-alg", "ES256")
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	m := regexp.MustCompile(`(?m)^client_id: (\S+)\nclient_secret: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add: got %q, want client_id and client_secret lines", out)
	}
	id, sec := m[1], m[2]
	out, err = runCmd(t, env, "", "oidc-client", "add", "--name", "CLI tool", "--redirect-uri", "http://127.0.0.1/callback", "--public")
	if err != nil || !strings.Contains(out, "client_id: ") || strings.Contains(out, "client_secret") {
		t.Fatalf("add --public: got %v, %q, want an ID and no secret", err, out)
	}
	db, err := models.Open(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	row, err := models.OIDCClientByID(db, id)
	if err != nil {
		t.Fatal(err)
	}
	if row.SecretHash == sec || row.SecretHash != secret.HashIn("oidc-client:", sec) || !row.SkipConsent || len(models.Lines(row.RedirectURIs)) != 2 ||
		row.BackchannelLogoutURI != "https://grafana.example.com/logout/backchannel" || row.IDTokenAlg != "ES256" {
		t.Errorf("stored client: %+v", row)
	}
	out, err = runCmd(t, env, "", "oidc-client", "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "Grafana") || !strings.Contains(out, "CLI tool") || strings.Contains(out, sec) ||
		!strings.Contains(out, "ES256") || !strings.Contains(out, "RS256") {
		t.Errorf("list: got %v, %q", err, out)
	}
	for _, bad := range [][]string{
		{"oidc-client", "add", "--name", "X"},
		{"oidc-client", "add", "--redirect-uri", "https://x.example/cb"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "not a uri"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "https://x.example/cb#frag"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "myapp:/cb"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--backchannel-logout-uri", "ftp://x.example/bc"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--id-token-signed-response-alg", "HS256"},
		{"oidc-client", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--id-token-signed-response-alg", "none"},
		{"oidc-client", "frob"},
		{"oidc-client", "remove"},
	} {
		if _, err := runCmd(t, env, "", bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if out, err := runCmd(t, env, "", "oidc-client", "remove", id); err != nil || !strings.Contains(out, id) {
		t.Errorf("remove: %v %q", err, out)
	}
	if _, err := runCmd(t, env, "", "oidc-client", "remove", id); err == nil {
		t.Error("removing twice: no error")
	}
	// Each add and the remove is a security event saying it came from
	// the command; the refused commands recorded nothing.
	var evs []models.AuthEvent
	if err := db.Where("kind IN ?", []models.EventKind{models.EventOIDCClientAdded, models.EventOIDCClientRemoved}).Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Kind != models.EventOIDCClientAdded || evs[2].Kind != models.EventOIDCClientRemoved ||
		!strings.Contains(evs[0].Detail, id) || !strings.Contains(evs[2].Detail, id) ||
		!strings.Contains(models.EventDetail(context.Background(), &evs[2]), "by the oidc-client command: client "+id) {
		t.Errorf("events: got %+v, want two adds and the remove of %s by the command", evs, id)
	}
}

// TestOIDCKeysRotate: the first start makes a key of each algorithm
// (RS256, ES256); after a rotation a new one of each signs and the old
// ones stay in the JWKS (tokens they signed still verify).
func TestOIDCKeysRotate(t *testing.T) {
	key := strings.Repeat("k", 40)
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "keys.db"), "HASH_CONCURRENCY": "1", "SECRET_KEY": key}
	db, err := models.Open(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	p, err := oidcop.New(context.Background(), slog.New(slog.DiscardHandler), db, oidcop.Options{Issuer: "https://sso.example.com", SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	// kids lists the JWKS's keys as "alg kid", newest first.
	kids := func(p *oidcop.Provider) []string {
		b, err := p.JWKS()
		if err != nil {
			t.Fatal(err)
		}
		var set struct {
			Keys []struct{ Kid, Alg, Kty string }
		}
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			if (k.Alg == "RS256") != (k.Kty == "RSA") || (k.Alg == "ES256") != (k.Kty == "EC") {
				t.Errorf("key %s: alg %s, kty %s", k.Kid, k.Alg, k.Kty)
			}
			out = append(out, k.Alg+" "+k.Kid)
		}
		slices.Sort(out)
		return out
	}
	before := kids(p)
	if len(before) != 2 || !strings.HasPrefix(before[0], "ES256 ") || !strings.HasPrefix(before[1], "RS256 ") {
		t.Fatalf("first start: keys %v, want one ES256 and one RS256", before)
	}
	out, err := runCmd(t, env, "", "oidc-keys", "rotate")
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	// A fresh provider (another instance, or this one after a minute)
	// sees all four; the output names the two new ones.
	p2, err := oidcop.New(context.Background(), slog.New(slog.DiscardHandler), db, oidcop.Options{Issuer: "https://sso.example.com", SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	after := kids(p2)
	var fresh []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			fresh = append(fresh, k)
		}
	}
	if len(after) != 4 || len(fresh) != 2 || !strings.HasPrefix(fresh[0], "ES256 ") || !strings.HasPrefix(fresh[1], "RS256 ") {
		t.Fatalf("after rotate: keys %v (before %v)", after, before)
	}
	for _, k := range fresh {
		alg, kid, _ := strings.Cut(k, " ")
		if !strings.Contains(out, kid+" ("+alg+")") {
			t.Errorf("output %q does not name %s", out, k)
		}
	}
	if _, err := runCmd(t, map[string]string{"DATABASE_URL": env["DATABASE_URL"], "SECRET_KEY": "short"}, "", "oidc-keys", "rotate"); err == nil {
		t.Error("rotate without a usable SECRET_KEY: no error")
	}
}
