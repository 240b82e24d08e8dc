package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

func writeProviders(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "providers.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A bad providers file stops start-up with the reason.
func TestSocialProvidersFileErrors(t *testing.T) {
	cases := []struct{ name, body, wantIn string }{
		{"unknown key", "providers:\n  - id: corp\n    name: Corp\n    issuer: https://sso.example.com\n    client_id: a\n    client_secret: b\n    clientsecret: typo\n", "field clientsecret not found"},
		{"missing issuer", "providers:\n  - id: corp\n    name: Corp\n    client_id: a\n    client_secret: b\n", "issuer is required"},
		{"http issuer", "providers:\n  - id: corp\n    name: Corp\n    issuer: http://sso.example.com\n    client_id: a\n    client_secret: b\n", "must be https"},
		{"bad id", "providers:\n  - id: Corp/SSO\n    name: Corp\n    issuer: https://sso.example.com\n    client_id: a\n    client_secret: b\n", "lower-case letters"},
		{"duplicate id", "providers:\n  - {id: corp, name: A, issuer: 'https://a.example', client_id: a, client_secret: b}\n  - {id: corp, name: B, issuer: 'https://b.example', client_id: a, client_secret: b}\n", "appears twice"},
		{"no openid scope", "providers:\n  - {id: corp, name: A, issuer: 'https://a.example', client_id: a, client_secret: b, scopes: [email]}\n", "scopes must include openid"},
		{"unknown type", "providers:\n  - {id: x, type: saml, name: A, client_id: a, client_secret: b}\n", `type "saml"`},
		{"github with another id", "providers:\n  - {id: gh, type: github, client_id: a, client_secret: b}\n", `id is "github"`},
		{"empty", "", "empty"},
		{"no providers", "providers: []\n", "no providers"},
		{"not yaml", "providers: [\n", "yaml"},
		{"missing secret", "providers:\n  - {id: github, type: github, client_id: a}\n", "client_secret is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadServeConfig(func(k string) string {
				if k == "SOCIAL_PROVIDERS" {
					return writeProviders(t, tc.body)
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), "SOCIAL_PROVIDERS") || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("got %v, want an error naming SOCIAL_PROVIDERS and %q", err, tc.wantIn)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := loadServeConfig(func(k string) string {
			if k == "SOCIAL_PROVIDERS" {
				return filepath.Join(t.TempDir(), "nope.yml")
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("good file", func(t *testing.T) {
		c, err := loadServeConfig(func(k string) string {
			switch k {
			case "SOCIAL_PROVIDERS":
				return writeProviders(t, "providers:\n  - id: corp\n    name: Corp SSO\n    issuer: https://sso.example.com\n    client_id: gatehouse\n    client_secret: s3cret\n    allowed_domains: [Example.COM]\n  - id: github\n    type: github\n    client_id: a\n    client_secret: b\n")
			case "SOCIAL_EMAIL_AUTHENTICATION":
				return "on"
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		ps := c.SocialProviders
		if len(ps) != 2 || ps[0].ID != "corp" || strings.Join(ps[0].Scopes, " ") != "openid profile email" || ps[0].AllowedDomains[0] != "example.com" ||
			ps[1].Name != "GitHub" || !c.SocialEmailAuthentication {
			t.Fatalf("got %+v (email auth %v)", ps, c.SocialEmailAuthentication)
		}
	})
}

// `gatehouse check` reports the providers it cannot reach.
func TestCheckReportsUnreachableProviders(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	env := goodDeployEnv(t)
	env["SOCIAL_PROVIDERS"] = writeProviders(t, "providers:\n  - {id: good, name: Good, issuer: '"+m.Issuer()+"', client_id: a, client_secret: b}\n"+
		"  - {id: down, name: Down, issuer: 'http://127.0.0.1:1/oidc', client_id: a, client_secret: b}\n")
	out, err := runCmd(t, env, "", "check")
	if err == nil || !strings.Contains(out, `gatehouse.E003: SOCIAL_PROVIDERS: provider "down"`) || strings.Contains(out, `"good"`) {
		t.Fatalf("got %v; output:\n%s", err, out)
	}
	env["SOCIAL_PROVIDERS"] = writeProviders(t, "providers:\n  - {id: good, name: Good, issuer: '"+m.Issuer()+"', client_id: a, client_secret: b}\n")
	if out, err := runCmd(t, env, "", "check"); err != nil {
		t.Fatalf("reachable provider: %v\n%s", err, out)
	}
}
