package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/settings"
	"gatehouse/models"
)

// runMain runs the program as main does (run, then printError on failure)
// and returns stdout, stderr and the error.
func runMain(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, args, envMap(env), strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		printError(&errOut, err)
	}
	return out.String(), errOut.String(), err
}

// Help prints help and succeeds; mistakes in the command line are errors,
// printed once with a pointer to the help; nothing here starts the server.
func TestCommandLine(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "cli.db"), "ADDR": "127.0.0.1:0"}
	cases := []struct {
		args    []string
		wantOut string // on stdout, when it succeeds
		wantErr string // "" = success
	}{
		{[]string{"--help"}, "commands:", ""},
		{[]string{"-h"}, "commands:", ""},
		{[]string{"-help"}, "commands:", ""},
		{[]string{"help"}, "commands:", ""},
		{[]string{"help", "changepassword"}, "usage: gatehouse changepassword [flags] USERNAME", ""},
		{[]string{"serve", "--help"}, "usage: gatehouse serve [flags]", ""},
		{[]string{"serve", "-h"}, "usage: gatehouse serve [flags]", ""},
		{[]string{"createsuperuser", "-h"}, "--password-stdin", ""},
		{[]string{"changepassword", "--help"}, "--password-stdin", ""},
		{[]string{"clearsessions", "-h"}, "usage: gatehouse clearsessions [flags]", ""},
		{[]string{"help", "-h"}, "usage: gatehouse help [flags] [COMMAND]", ""},
		{[]string{"serve", "extra"}, "", `unexpected argument "extra"`},
		{[]string{"serve", "--port", "80"}, "", "flag provided but not defined: -port"},
		{[]string{"clearsessions", "--bogus"}, "", "flag provided but not defined: -bogus"},
		{[]string{"clearsessions", "now"}, "", `unexpected argument "now"`},
		{[]string{"changepassword"}, "", "missing USERNAME"},
		{[]string{"changepassword", "alice", "bob"}, "", `unexpected argument "bob"`},
		{[]string{"createsuperuser", "--username"}, "", "flag needs an argument: -username"},
		{[]string{"frobnicate"}, "", `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, "", `unknown command "frobnicate"`},
		{[]string{"--verbose"}, "", "unknown flag --verbose"},
		{[]string{"-x", "serve"}, "", "unknown flag -x"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, err := runMain(t, env, "", tc.args...)
			if strings.Contains(stdout+stderr, "listening") {
				t.Fatalf("the server started: %q", stdout)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want success", err)
				}
				if !strings.Contains(stdout, tc.wantOut) || stderr != "" {
					t.Errorf("got stdout %q, stderr %q; want %q on stdout only", stdout, stderr, tc.wantOut)
				}
				return
			}
			var uerr *usageError
			if !errors.As(err, &uerr) {
				t.Fatalf("got error %v, want a usage error containing %q", err, tc.wantErr)
			}
			if n := strings.Count(stderr, tc.wantErr); n != 1 {
				t.Errorf("stderr %q: got the message %d times, want once", stderr, n)
			}
			if !strings.Contains(stderr, "gatehouse help") && !strings.Contains(stderr, " -h' for its usage") {
				t.Errorf("stderr %q: want a pointer to the help", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
		})
	}
}

// Flags may come after positional arguments, as with Django's commands;
// "--" ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "flags.db"), "HASH_CONCURRENCY": "1"}
	if _, _, err := runMain(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "root", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runMain(t, env, "An0ther-Secret-pass\n", "changepassword", "root", "--password-stdin")
	if err != nil || !strings.Contains(out, `Password changed successfully for user "root"`) {
		t.Fatalf("changepassword USER --password-stdin: got %v, %q", err, out)
	}
	_, _, err = runMain(t, env, "", "changepassword", "--", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "no terminal") {
		t.Errorf(`after "--" a flag-like word is the username: got %v, want the no-terminal error for user "--password-stdin"`, err)
	}
	for _, args := range [][]string{
		{"changepassword", "root", "--password-stdin", "--bogus"},
		{"changepassword", "root", "extra", "--password-stdin"},
	} {
		if _, _, err := runMain(t, env, "An0ther-Secret-pass\n", args...); err == nil {
			t.Errorf("%q: got success, want an error", args)
		}
	}
}

// A bad server-only variable stops the server, naming it, but not help or
// the management commands; a bad variable every command needs stops them
// all.
func TestConfigScopes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "scope.db")
	serverOnly := map[string]string{
		"ADDR": "8080", "BASE_URL": "ftp://x", "SMTP_URL": "http://mail", "MAIL_FROM": "nobody",
		"SESSION_LIFETIME": "forever", "LOGIN_LIMIT_PER_IP": "5", "TRUSTED_PROXIES": "x", "DEBUG": "maybe",
		"GOGC": "lots", "GOMEMLIMIT": "1 GiB",
	}
	env := map[string]string{"DATABASE_URL": db, "HASH_CONCURRENCY": "1"}
	for k, v := range serverOnly {
		env[k] = v
	}
	steps := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"help"}, "commands:"},
		{"Sup3r-Secret-pass\n", []string{"createsuperuser", "--username", "root", "--password-stdin"}, "created successfully"},
		{"An0ther-Secret-pass\n", []string{"changepassword", "--password-stdin", "root"}, "changed successfully"},
		{"", []string{"clearsessions"}, "Deleted 0 expired session(s)."},
	}
	for _, st := range steps {
		out, errOut, err := runMain(t, env, st.stdin, st.args...)
		if err != nil || !strings.Contains(out, st.want) {
			t.Errorf("%q with bad server-only variables: got %v, %q %q; want success", st.args, err, out, errOut)
		}
	}
	_, stderr, err := runMain(t, env, "", "serve")
	if err == nil {
		t.Fatal("serve with bad variables: got success")
	}
	for k := range serverOnly {
		if !strings.Contains(stderr, k+": ") {
			t.Errorf("serve's error does not name %s: %q", k, stderr)
		}
	}

	for k, v := range map[string]string{"LOG_LEVEL": "loud", "HASH_CONCURRENCY": "-1", "DATABASE_BUSY_TIMEOUT": "soon", "HASH_QUEUE_TIMEOUT": "0s"} {
		_, _, err := runMain(t, map[string]string{"DATABASE_URL": db, k: v}, "", "clearsessions")
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("clearsessions with %s=%q: got %v, want an error naming it", k, v, err)
		}
	}
}

// DATABASE_URL problems name the variable and the file.
func TestDatabaseURLErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ url, want string }{
		{filepath.Join(dir, "missing", "x.db"), "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"mysql://u:hunter2pass@db/x", "unsupported scheme"},
		{filepath.Join(dir, "x.db") + "?mode=ro", "query parameters"},
	}
	for _, tc := range cases {
		_, stderr, err := runMain(t, map[string]string{"DATABASE_URL": tc.url}, "", "clearsessions")
		if err == nil {
			t.Errorf("%s: got success", tc.url)
			continue
		}
		if !strings.Contains(stderr, "DATABASE_URL=") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: got %q, want DATABASE_URL= and %q", tc.url, stderr, tc.want)
		}
		if strings.Contains(stderr, "hunter2pass") {
			t.Errorf("%s: the error echoes the password: %q", tc.url, stderr)
		}
	}
}

func TestClickableURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://localhost:8080",
		"0.0.0.0:8080":   "http://localhost:8080",
		"[::]:8080":      "http://localhost:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"example.com:80": "http://example.com:80",
	} {
		if got := clickableURL(addr); got != want {
			t.Errorf("clickableURL(%q): got %q, want %q", addr, got, want)
		}
	}
}

// BASE_URL defaults from ADDR; a set BASE_URL wins.
func TestBaseURLDefaultsFromAddr(t *testing.T) {
	cases := []struct {
		env      map[string]string
		want     string
		fromAddr bool
	}{
		{nil, "http://localhost:8080", true},
		{map[string]string{"ADDR": ":9000"}, "http://localhost:9000", true},
		{map[string]string{"ADDR": "0.0.0.0:9000"}, "http://localhost:9000", true},
		{map[string]string{"ADDR": "192.0.2.7:9000"}, "http://192.0.2.7:9000", true},
		{map[string]string{"ADDR": ":9000", "BASE_URL": "https://auth.example.com/"}, "https://auth.example.com", false},
	}
	for _, tc := range cases {
		c, err := loadServeConfig(envMap(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL != tc.want || c.BaseURLFromAddr != tc.fromAddr {
			t.Errorf("%v: got %q (from ADDR %v), want %q (%v)", tc.env, c.BaseURL, c.BaseURLFromAddr, tc.want, tc.fromAddr)
		}
	}
}

// The server started on a wildcard address prints a URL a person can open,
// says where BASE_URL came from, and puts that address in the links it
// mails: a reset link printed by the console mailer leads back to it.
func TestServeDerivesBaseURLFromListener(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "base.db"), "ADDR": ":0", "HASH_CONCURRENCY": "1"}
	if _, _, err := runMain(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), out, logs) }()
	defer func() {
		cancel()
		<-done
	}()
	base := waitFor(t, out, regexp.MustCompile(`Gatehouse listening on (http://localhost:\d+)/\n`))
	waitFor(t, out, regexp.MustCompile(`BASE_URL is not set: links in e-mails point at `+regexp.QuoteMeta(base)+` \(from ADDR\)`))

	res, err := noRedirects.PostForm(strings.Replace(base, "localhost", "127.0.0.1", 1)+"/accounts/password_reset/",
		map[string][]string{"email": {"root@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	waitFor(t, out, regexp.MustCompile(regexp.QuoteMeta(base)+`/accounts/reset/[A-Za-z0-9_-]+/`))
}

// waitFor waits until w's output matches re and returns the first group.
func waitFor(t *testing.T, w *syncWriter, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
	}
	t.Fatalf("no output matching %s; got:\n%s", re, w.String())
	return ""
}

// GOGC and GOMEMLIMIT are read with the runtime's own syntax.
func TestGCVariables(t *testing.T) {
	gogc := []struct {
		in   string
		want int
		ok   bool
	}{
		{"100", 100, true}, {"400", 400, true}, {"0", 0, true}, {"off", -1, true}, {"-5", -1, true},
		{"abc", 0, false}, {"+5", 0, false}, {" 50", 0, false}, {"50%", 0, false}, {"OFF", 0, false}, {"99999999999", 0, false},
	}
	for _, tc := range gogc {
		got, err := parseGOGC(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("GOGC=%q: got %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	limits := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MiB", 256 << 20, true}, {"1GiB", 1 << 30, true}, {"1000000000", 1e9, true}, {"512B", 512, true},
		{"4KiB", 4096, true}, {"2TiB", 2 << 40, true}, {"0", 0, true}, {"off", 1<<63 - 1, true},
		{"lots", 0, false}, {"1 GiB", 0, false}, {"1GB", 0, false}, {"1G", 0, false}, {"-1", 0, false},
		{"+1", 0, false}, {"KiB", 0, false}, {"B", 0, false}, {"1.5GiB", 0, false}, {"9999999TiB", 0, false},
		{"9223372036854775808", 0, false},
	}
	for _, tc := range limits {
		got, err := parseGOMEMLIMIT(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("GOMEMLIMIT=%q: got %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for k, v := range map[string]string{"GOGC": "lots", "GOMEMLIMIT": "1 GiB"} {
		if _, err := loadServeConfig(envMap(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k+": ") {
			t.Errorf("%s=%q: got %v, want an error naming it", k, v, err)
		}
	}
}

// TestServerGCDefaults: serve's memory limit is the base plus room for
// twice the hashes that may run at once (166 MiB with one slot, the 250 MB
// flood budget of bench scenario 6.500 with the executable's pages), and
// GOGC/GOMEMLIMIT given in the environment win.
func TestServerGCDefaults(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	one, four, mem := 1, 4, int64(96<<20)
	for _, tc := range []struct {
		name      string
		cfg       config
		wantGC    int
		wantLimit int64
	}{
		{"one slot", config{Config: settings.Config{HashConcurrency: one}}, 400, 166 << 20},
		{"four slots", config{Config: settings.Config{HashConcurrency: four}}, 400, (128 + 4*2*19) << 20},
		{"GOGC and GOMEMLIMIT set", config{Config: settings.Config{HashConcurrency: four, GCPercent: &one, MemoryLimit: &mem}}, 1, 96 << 20},
	} {
		tuneGC(tc.cfg)
		if gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1); gc != tc.wantGC || limit != tc.wantLimit {
			t.Errorf("%s: got GOGC %d and a limit of %d MiB, want %d and %d MiB", tc.name, gc, limit>>20, tc.wantGC, tc.wantLimit>>20)
		}
		debug.SetGCPercent(100)
	}
}

// TestClearSessionsRunsTheServersSweeps: clearsessions runs each sweep of
// the one list the server runs (models.Sweeps), reporting each, so an old
// security event goes with an expired session.
func TestClearSessionsRunsTheServersSweeps(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "sweep.db")
	db, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().Add(-2 * models.DefaultEventRetention)
	if err := db.Create(&models.AuthEvent{Kind: models.EventLoginFailed, CreatedAt: old}).Error; err != nil {
		t.Fatal(err)
	}
	jobs := models.Sweeps(db, 0)
	if err := models.Close(db); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runMain(t, map[string]string{"DATABASE_URL": dbPath}, "", "clearsessions")
	if err != nil {
		t.Fatalf("clearsessions: %v\n%s%s", err, out, errOut)
	}
	for _, j := range jobs {
		if !strings.Contains(out, " "+j.What+".") {
			t.Errorf("clearsessions did not run the server's sweep of %s:\n%s", j.What, out)
		}
	}
	if !strings.Contains(out, "Deleted 1 old security event(s).") {
		t.Errorf("the old event was not swept:\n%s", out)
	}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{Timeout: 20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
