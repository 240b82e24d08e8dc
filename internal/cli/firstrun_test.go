package cli

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServe runs serve with env until it listens, and returns its logs and
// a function that stops it.
func startServe(t *testing.T, env map[string]string) (base string, logs *syncWriter, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), out, logs) }()
	re := regexp.MustCompile(`listening on (http://\S+)/`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], logs, func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}
		}
	}
	cancel()
	t.Fatalf("server did not start: %s %s", out.String(), logs.String())
	return "", nil, nil
}

// TestFirstRunIsQuietAndHasEveryFeature: a plain development start (no
// SECRET_KEY, local SQLite, a loopback address) logs at most one WARN line
// — pointing at `check --deploy` — in text and JSON logs, generates a
// SECRET_KEY in a 0600 file beside the database and names it (INFO), so
// two-factor authentication works; the next start reuses the key. A public
// BASE_URL gets every deploy warning; check --deploy still asks for
// SECRET_KEY.
func TestFirstRunIsQuietAndHasEveryFeature(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	env := map[string]string{"DATABASE_URL": db, "ADDR": "127.0.0.1:0", "HASH_CONCURRENCY": "1"}
	base, logs, stop := startServe(t, env)
	res, err := http.Get(base + "/accounts/2fa/webauthn/login/options/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	stop()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "check --deploy") {
		t.Errorf("a development start logged %d WARN lines, want 1 pointing at check --deploy:\n%s", n, logs.String())
	}
	keyFile := db + ".secret-key"
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v %v, want mode 0600", fi, err)
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), keyFile) {
		t.Errorf("the start-up does not name the generated key file (INFO):\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "two-factor authentication is not available") {
		t.Error("two-factor authentication is off on a first run")
	}
	key, _ := os.ReadFile(keyFile)

	// Again, in JSON: one WARN, the same key.
	env["LOG_FORMAT"] = "json"
	_, logs, stop = startServe(t, env)
	stop()
	if n := strings.Count(logs.String(), `"level":"WARN"`); n != 1 {
		t.Errorf("a JSON development start logged %d WARN lines, want 1:\n%s", n, logs.String())
	}
	if again, _ := os.ReadFile(keyFile); string(again) != string(key) {
		t.Error("the second start made a new key")
	}

	// A public BASE_URL: every warning.
	env["LOG_FORMAT"] = "text"
	env["BASE_URL"] = "http://gatehouse.example.com"
	_, logs, stop = startServe(t, env)
	stop()
	if n := strings.Count(logs.String(), "level=WARN"); n < 3 || !strings.Contains(logs.String(), "gatehouse.W003") {
		t.Errorf("a start with a public BASE_URL logged %d WARN lines, want every deploy warning (SECRET_KEY's too):\n%s", n, logs.String())
	}
}
