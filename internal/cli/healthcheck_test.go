package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The container's HEALTHCHECK runs `gatehouse healthcheck` beside the
// server: it succeeds against a running server (asked on loopback when ADDR
// has a wildcard host), and fails, with status 1, when nothing listens,
// when /readyz answers anything but 200, and when it does not answer in
// time.
func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "hc.db"), "ADDR": ":" + port, "HASH_CONCURRENCY": "1"}
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), out, logs) }()
	waitFor(t, out, regexp.MustCompile(`Gatehouse listening on `))

	stdout, stderr, err := runMain(t, env, "", "healthcheck")
	if err != nil || stdout != "ready: http://127.0.0.1:"+port+"/readyz\n" {
		t.Errorf("running server: got %v, stdout %q, stderr %q; want success", err, stdout, stderr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, stderr, err := runMain(t, env, "", "healthcheck"); err == nil || !strings.Contains(stderr, "connection refused") {
		t.Errorf("stopped server: got %v, stderr %q; want an error naming the refused connection", err, stderr)
	}

	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("healthcheck asked %s, want /readyz", r.URL.Path)
		}
		http.Error(w, "database not writable", http.StatusServiceUnavailable)
	}))
	defer unready.Close()
	addr := strings.TrimPrefix(unready.URL, "http://")
	if _, stderr, err := runMain(t, map[string]string{"ADDR": addr}, "", "healthcheck"); err == nil || !strings.Contains(stderr, "503 Service Unavailable") {
		t.Errorf("unready server: got %v, stderr %q; want an error naming the 503", err, stderr)
	}

	stuck := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stuck }))
	defer hang.Close()
	defer close(stuck)
	start := time.Now()
	_, stderr, err = runMain(t, map[string]string{"ADDR": strings.TrimPrefix(hang.URL, "http://")}, "", "healthcheck", "--timeout", "300ms")
	if err == nil || !strings.Contains(stderr, "deadline exceeded") || time.Since(start) > 5*time.Second {
		t.Errorf("hanging server: got %v after %s, stderr %q; want a timeout within the bound", err, time.Since(start), stderr)
	}

	for _, bad := range []struct{ addr, args, want string }{
		{":0", "", "fixed port"},
		{"nonsense", "", "is not host:port"},
		{":8080", "--timeout=-1s", "not a positive duration"},
		{":8080", "--timeout=soon", "invalid value"},
	} {
		args := []string{"healthcheck"}
		if bad.args != "" {
			args = append(args, bad.args)
		}
		if _, stderr, err := runMain(t, map[string]string{"ADDR": bad.addr}, "", args...); err == nil || !strings.Contains(stderr, bad.want) {
			t.Errorf("ADDR=%q %s: got %v, stderr %q; want an error containing %q", bad.addr, bad.args, err, stderr, bad.want)
		}
	}
}

// freePort returns a TCP port free on loopback at the time of the call.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
