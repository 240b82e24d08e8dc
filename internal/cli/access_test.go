package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/access"
)

const goodRules = "access_control:\n  default_policy: deny\n  rules:\n    - domain: app.example.test\n      policy: one_factor\n"

// TestAccessRulesSetting: a bad ACCESS_RULES file stops start-up (and
// `check`) with the file, the line and the reason; a good one is reported
// by `check`.
func TestAccessRulesSetting(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("access_control:\n  default_policy: deny\n  rules:\n    - domain: a.test\n      networks: internal\n      policy: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, []byte(goodRules), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "a.db"), "ACCESS_RULES": bad}
	for _, cmd := range []string{"check", "serve"} {
		_, err := runCmd(t, env, "", cmd)
		if err == nil || !strings.Contains(err.Error(), "ACCESS_RULES: "+bad+": line 5: unsupported key \"networks\"") {
			t.Errorf("%s with a bad ACCESS_RULES: got %v", cmd, err)
		}
	}
	env["ACCESS_RULES"] = filepath.Join(dir, "missing.yml")
	if _, err := runCmd(t, env, "", "check"); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("check with a missing ACCESS_RULES: got %v", err)
	}
	env["ACCESS_RULES"] = good
	if _, err := runCmd(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, env, "", "check")
	if err != nil || !strings.Contains(out, "Access rules: 1 rule(s), default_policy deny, from "+good) {
		t.Errorf("check with good rules: got %v, %q", err, out)
	}
	env["ACCESS_RULES"] = ""
	env["SESSION_COOKIE_DOMAIN"] = "https://example.com"
	if _, err := runCmd(t, env, "", "check"); err == nil || !strings.Contains(err.Error(), "SESSION_COOKIE_DOMAIN") {
		t.Errorf("check with a bad SESSION_COOKIE_DOMAIN: got %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReloadRulesOnHangup: SIGHUP loads the file again; a bad file keeps
// the rules in force and logs why.
func TestReloadRulesOnHangup(t *testing.T) {
	// The test's own subscription keeps SIGHUP from ending the process
	// before the reloader has subscribed.
	guard := make(chan os.Signal, 100)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	p := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(p, []byte(goodRules), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := access.NewStore(p)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadRulesOnHangup(ctx, store, slog.New(slog.NewTextHandler(logs, nil)), "")
	}()
	defer func() { cancel(); <-done }()
	hangupUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after SIGHUP; log: %s", what, logs.String())
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if err := os.WriteFile(p, []byte(goodRules+"    - domain: b.example.test\n      policy: bypass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangupUntil("reload", func() bool { return len(store.Rules().Rules) == 2 })
	if !strings.Contains(logs.String(), "access rules reloaded") {
		t.Errorf("log: %s", logs.String())
	}
	if err := os.WriteFile(p, []byte("access_control:\n  rules: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangupUntil("refusal", func() bool { return strings.Contains(logs.String(), "access rules not reloaded") })
	if n := len(store.Rules().Rules); n != 2 {
		t.Errorf("after a bad reload: got %d rules, want the 2 in force", n)
	}
}

// TestCheckTwoFactorNeedsSecretKey: a two_factor rule (or default policy)
// without a SECRET_KEY that turns two-factor authentication on is a
// problem `check` reports with the rule and its line; with the key it is
// not.
func TestCheckTwoFactorNeedsSecretKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yml")
	rules := goodRules + "    - domain: secure.example.test\n      policy: two_factor\n"
	if err := os.WriteFile(p, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "a.db"), "ACCESS_RULES": p}
	if _, err := runCmd(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, env, "", "check")
	if err == nil || !strings.Contains(out, "gatehouse.E004: ACCESS_RULES: rule 2 (line 6) is two_factor, but SECRET_KEY is not set") {
		t.Errorf("check without SECRET_KEY: got %v; output:\n%s", err, out)
	}
	env["SECRET_KEY"] = "q3J8vR2mX9pL5tW1zK7nB4cY6hF0dG8s"
	if out, err := runCmd(t, env, "", "check"); err != nil || strings.Contains(out, "E004") {
		t.Errorf("check with SECRET_KEY: got %v; output:\n%s", err, out)
	}
	r, err := access.Parse([]byte("access_control:\n  default_policy: two_factor\n"))
	if err != nil {
		t.Fatal(err)
	}
	if msg := twoFactorWithoutKey(r, ""); !strings.HasPrefix(msg, "ACCESS_RULES: default_policy is two_factor") {
		t.Errorf("default two_factor: got %q", msg)
	}
	if msg := twoFactorWithoutKey(access.Default(), ""); msg != "" {
		t.Errorf("no two_factor: got %q", msg)
	}
}
