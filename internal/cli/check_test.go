package cli

import (
	"bytes"
	"context"
	"log/slog"
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
