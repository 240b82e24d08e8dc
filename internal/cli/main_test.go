package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// envMap returns a getenv over m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadServeConfig(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.DatabaseURL != "gatehouse.db" || cfg.BaseURL != "http://localhost:8080" {
		t.Errorf("defaults: addr %q db %q base %q", cfg.Addr, cfg.DatabaseURL, cfg.BaseURL)
	}
	if cfg.SessionLifetime != 14*24*time.Hour {
		t.Errorf("session lifetime: got %v, want 336h", cfg.SessionLifetime)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	cases := map[string]string{
		"ADDR":                "8080",
		"BASE_URL":            "ftp://x",
		"SMTP_URL":            "http://mail",
		"LOG_LEVEL":           "loud",
		"SESSION_LIFETIME":    "forever",
		"HASH_CONCURRENCY":    "-1",
		"HASH_QUEUE_TIMEOUT":  "0s",
		"TRUSTED_PROXIES":     "not-an-ip",
		"DEBUG":               "maybe",
		"LOGIN_REDIRECT_URL":  "//evil.example",
		"LOGOUT_REDIRECT_URL": "https://evil.example",
	}
	for k, v := range cases {
		t.Run(k, func(t *testing.T) {
			_, err := loadServeConfig(envMap(map[string]string{k: v}))
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: got error %v, want one naming %s", k, v, err, k)
			}
		})
	}
}

func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, envMap(env), strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestManagementCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "cmd.db"), "HASH_CONCURRENCY": "1"}
	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantErr string // "" = success
		wantOut string
	}{
		{"missing username", "Sup3r-Secret-pass\n", []string{"createsuperuser", "--password-stdin"}, "--username is required", ""},
		{"no password source", "", []string{"createsuperuser", "--username", "root"}, "use --password-stdin", ""},
		{"empty password", "\n", []string{"createsuperuser", "--username", "root", "--password-stdin"}, "held no password", ""},
		{"weak password", "password\n", []string{"createsuperuser", "--username", "root", "--password-stdin"}, "too common", ""},
		{"bad username", "Sup3r-Secret-pass\n", []string{"createsuperuser", "--username", "root user", "--password-stdin"}, "valid username", ""},
		{"bad email", "Sup3r-Secret-pass\n", []string{"createsuperuser", "--username", "root", "--email", "nope", "--password-stdin"}, "valid email", ""},
		{"created", "Sup3r-Secret-pass\n", []string{"createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"}, "", `Superuser "root" created`},
		{"duplicate any case", "Sup3r-Secret-pass\n", []string{"createsuperuser", "--username", "ROOT", "--password-stdin"}, "already taken", ""},
		{"changepassword unknown", "An0ther-Secret-pass\n", []string{"changepassword", "--password-stdin", "nobody"}, "does not exist", ""},
		{"changepassword no user arg", "", []string{"changepassword"}, "usage", ""},
		{"changepassword weak", "12345678\n", []string{"changepassword", "--password-stdin", "root"}, "numeric", ""},
		{"changepassword", "An0ther-Secret-pass\n", []string{"changepassword", "--password-stdin", "root"}, "", "Password changed successfully"},
		{"clearsessions", "", []string{"clearsessions"}, "", "Deleted 0 expired session(s)."},
		{"unknown command", "", []string{"frobnicate"}, "unknown command", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, err := runCmd(t, env, st.stdin, st.args...)
			if st.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), st.wantErr) {
					t.Fatalf("got error %v, want one containing %q (output %q)", err, st.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v (output %q)", err, out)
			}
			if !strings.Contains(out, st.wantOut) {
				t.Errorf("output: got %q, want it to contain %q", out, st.wantOut)
			}
			if strings.Contains(out, strings.TrimSpace(st.stdin)) && st.stdin != "" {
				t.Errorf("output echoes the password")
			}
		})
	}
}

// syncWriter lets the test read what the server prints while it runs.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestServeLoginAndGracefulShutdown(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "serve.db")
	env := map[string]string{"DATABASE_URL": dbPath, "ADDR": "127.0.0.1:0", "HASH_CONCURRENCY": "1"}
	if _, err := runCmd(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "admin", "--email", "a@example.com", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), out, logs) }()

	re := regexp.MustCompile(`listening on (http://\S+)/`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("server did not start: %s %s", out.String(), logs.String())
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(base+"/accounts/login/", map[string][]string{"username": {"admin"}, "password": {"Sup3r-Secret-pass"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login against the real server: got %d, want 303", res.StatusCode)
	}

	// A request still sending its body when shutdown starts is answered.
	pr, pw := io.Pipe()
	inflight := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/accounts/login/", pr)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := client.Do(req)
		if err != nil {
			inflight <- 0
			return
		}
		r.Body.Close()
		inflight <- r.StatusCode
	}()
	io.WriteString(pw, "username=admin&pass")
	time.Sleep(100 * time.Millisecond) // the server is now reading the body
	cancel()
	time.Sleep(100 * time.Millisecond)
	io.WriteString(pw, "word=wrong-password")
	pw.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not shut down")
	}
	if code := <-inflight; code != http.StatusUnprocessableEntity {
		t.Errorf("request in flight during shutdown: got %d, want 422 (answered, not dropped)", code)
	}
	if strings.Contains(logs.String(), "Sup3r-Secret-pass") {
		t.Errorf("logs contain the password")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("server still answering after shutdown")
	}
}

// TestLoadConfigMail covers the mail and reset settings: defaults, and bad
// values stopping start-up with a message that never echoes the SMTP
// password.
func TestLoadConfigMail(t *testing.T) {
	c, err := loadServeConfig(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PasswordResetTimeout != time.Hour || c.SMTPURL != "" {
		t.Errorf("got reset timeout %s, smtp %q; want 1h and console", c.PasswordResetTimeout, c.SMTPURL)
	}
	c, err = loadServeConfig(envMap(map[string]string{"PASSWORD_RESET_TIMEOUT": "15m", "SMTP_URL": "smtps://u:p@mail.example.com", "MAIL_FROM": "Ops <ops@example.com>"}))
	if err != nil || c.PasswordResetTimeout != 15*time.Minute {
		t.Fatalf("got %v, %s", err, c.PasswordResetTimeout)
	}
	for name, env := range map[string]map[string]string{
		"PASSWORD_RESET_TIMEOUT": {"PASSWORD_RESET_TIMEOUT": "soon"},
		"MAIL_FROM":              {"MAIL_FROM": "not an address"},
		"SMTP_URL scheme":        {"SMTP_URL": "http://u:hunter2secret@host"},
		"SMTP_URL port":          {"SMTP_URL": "smtp://u:hunter2secret@host:99999"},
	} {
		_, err := loadServeConfig(envMap(env))
		if err == nil {
			t.Errorf("%s: got nil error, want one", name)
			continue
		}
		key := strings.Fields(name)[0]
		if !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q does not name %s", name, err, key)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: error echoes the SMTP password: %q", name, err)
		}
	}
}
