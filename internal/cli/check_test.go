package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gatehouse/models"
)

// goodDeployEnv is a production configuration check --deploy accepts.
func goodDeployEnv(t *testing.T) map[string]string {
	path := filepath.Join(t.TempDir(), "prod.db")
	db, err := models.Open(context.Background(), path) // migrated
	if err != nil {
		t.Fatal(err)
	}
	models.Close(db)
	return map[string]string{
		"DATABASE_URL":    path,
		"BASE_URL":        "https://auth.example.com",
		"SMTP_URL":        "smtp://user:pass@127.0.0.1:2525",
		"SECRET_KEY":      "q3J8vR2mX9pL5tW1zK7nB4cY6hF0dG8s",
		"TRUSTED_PROXIES": "10.0.0.1",
	}
}

// TestCheckDeploy: one case per warning. A good production configuration
// passes (exit 0); each bad setting alone fails (non-zero) with its own
// warning, explained, and no other.
func TestCheckDeploy(t *testing.T) {
	cases := []struct {
		name   string
		set    map[string]string
		netFS  bool
		wantID string // "" = no issues
		wantIn string
	}{
		{"production settings", nil, false, "", ""},
		{"base url not https", map[string]string{"BASE_URL": "http://auth.example.com"}, false, "gatehouse.W001", "not https"},
		{"console mailer", map[string]string{"SMTP_URL": ""}, false, "gatehouse.W002", "printed to standard output"},
		{"secret key missing", map[string]string{"SECRET_KEY": ""}, false, "gatehouse.W003", "unset"},
		{"secret key short", map[string]string{"SECRET_KEY": "short-secret"}, false, "gatehouse.W003", "weak"},
		{"secret key repetitive", map[string]string{"SECRET_KEY": strings.Repeat("ab", 20)}, false, "gatehouse.W003", "weak"},
		{"no trusted proxies", map[string]string{"TRUSTED_PROXIES": ""}, false, "gatehouse.W004", "TRUSTED_PROXIES is unset"},
		{"sqlite on nfs", nil, true, "gatehouse.W005", "NFS filesystem"},
		{"login limit off", map[string]string{"LOGIN_LIMIT_PER_IP": "off"}, false, "gatehouse.W006", "LOGIN_LIMIT_PER_IP"},
		{"signup limit off", map[string]string{"SIGNUP_LIMIT_PER_IP": "off"}, false, "gatehouse.W006", "SIGNUP_LIMIT_PER_IP"},
		{"debug on", map[string]string{"DEBUG": "true"}, false, "gatehouse.W007", "DEBUG is on"},
		{"schema behind", map[string]string{"DATABASE_URL": "NEW"}, false, "gatehouse.E002", "gatehouse migrate"},
	}
	ids := regexp.MustCompile(`gatehouse\.[WE]\d{3}`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := goodDeployEnv(t)
			for k, v := range tc.set {
				if v == "NEW" { // a database no migration has touched
					v = filepath.Join(t.TempDir(), "new.db")
				}
				env[k] = v
			}
			if tc.netFS {
				orig := statfsType
				statfsType = func(string) (int64, error) { return 0x6969, nil }
				defer func() { statfsType = orig }()
			}
			out, err := runCmd(t, env, "", "check", "--deploy")
			got := ids.FindAllString(out, -1)
			if tc.wantID == "" {
				if err != nil || len(got) != 0 || !strings.Contains(out, "no issues") {
					t.Fatalf("got %v, %v; output:\n%s\nwant no issues", err, got, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("got exit 0, want a failure; output:\n%s", out)
			}
			if len(got) != 1 || got[0] != tc.wantID || !strings.Contains(out, tc.wantIn) {
				t.Fatalf("got warnings %v, want only %s saying %q; output:\n%s", got, tc.wantID, tc.wantIn, out)
			}
			// Without --deploy only the configuration and database count.
			out, err = runCmd(t, env, "", "check")
			if dbProblem := strings.HasPrefix(tc.wantID, "gatehouse.E"); (err != nil) != dbProblem || ids.MatchString(out) != dbProblem {
				t.Fatalf("plain check: got %v; output:\n%s", err, out)
			}
		})
	}
}

// TestServeLogsDeployWarnings: serve logs what check --deploy reports.
func TestServeLogsDeployWarnings(t *testing.T) {
	cfg, err := loadServeConfig(envMap(map[string]string{"DEBUG": "true", "LOGIN_LIMIT_PER_IP": "off"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logDeployWarnings(slog.New(slog.NewTextHandler(&buf, nil)), cfg)
	for _, id := range []string{"W001", "W002", "W003", "W004", "W006", "W007"} {
		if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "check=gatehouse."+id) {
			t.Errorf("serve log lacks %s:\n%s", id, buf.String())
		}
	}
}

// TestCheckOIDCKeys: `check` says plainly when the OpenID provider's
// signing keys do not open with the key serve would use — the generated
// key file lost or replaced, SECRET_KEY changed — and is quiet once the
// right key is back. It never makes a key file itself.
func TestCheckOIDCKeys(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "site.db")
	env := map[string]string{"DATABASE_URL": dbPath, "HASH_CONCURRENCY": "1"}
	if out, err := runCmd(t, env, "", "oidc-keys", "rotate"); err != nil {
		t.Fatalf("oidc-keys rotate: %v %s", err, out)
	}
	keyFile := dbPath + ".secret-key"
	orig, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("the generated key file: %v", err)
	}
	check := func(env map[string]string) (string, error) {
		t.Helper()
		return runCmd(t, env, "", "check")
	}
	if out, err := check(env); err != nil {
		t.Fatalf("check with the right key: %v %s", err, out)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	out, err := check(env)
	if err == nil || !strings.Contains(out, "gatehouse.E005") || !strings.Contains(out, keyFile+" is missing") || !strings.Contains(out, "restore") {
		t.Errorf("key file lost: got %v %q, want E005 naming the missing file", err, out)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("check made a key file")
	}
	if err := os.WriteFile(keyFile, []byte("another-generated-key-of-more-than-32-characters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := check(env); err == nil || !strings.Contains(out, "gatehouse.E005") || !strings.Contains(out, "another key than the one in "+keyFile) {
		t.Errorf("key file replaced: got %v %q", err, out)
	}
	set := map[string]string{"DATABASE_URL": dbPath, "HASH_CONCURRENCY": "1", "SECRET_KEY": "a-changed-secret-key-of-more-than-32-characters"}
	if out, err := check(set); err == nil || !strings.Contains(out, "gatehouse.E005") || !strings.Contains(out, "than the one set") {
		t.Errorf("SECRET_KEY changed: got %v %q", err, out)
	}
	if err := os.WriteFile(keyFile, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := check(env); err != nil {
		t.Errorf("key file restored: %v %s", err, out)
	}
}
