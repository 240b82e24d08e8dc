package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The real binary, built once per test run for the tests that need a
// process of their own (crash safety, start-up environment, README
// commands).
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// gatehouseBinary returns the path of the gatehouse binary built from this
// tree, building it on first use.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "gatehouse-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "gatehouse")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

// A malformed GOMEMLIMIT would stop the Go runtime before main with a
// stack trace. The real binary reports it like any other variable when
// serving and lets help and the management commands run.
func TestMalformedGOMEMLIMITInTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := gatehouseBinary(t)
	dir := t.TempDir()
	environ := []string{"GOMEMLIMIT=lots", "DATABASE_URL=" + filepath.Join(dir, "gc.db"), "ADDR=127.0.0.1:0", "PATH=/usr/bin:/bin"}
	help := exec.Command(bin, "help")
	help.Env = environ
	if out, err := help.CombinedOutput(); err != nil || !strings.Contains(string(out), "commands:") {
		t.Errorf("help with GOMEMLIMIT=lots: got %v\n%s", err, out)
	}
	serve := exec.Command(bin)
	serve.Env = environ
	out, err := serve.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve with GOMEMLIMIT=lots: got %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), `GOMEMLIMIT: "lots" is not a size`) || strings.Contains(string(out), "fatal error") ||
		strings.Contains(string(out), "goroutine") {
		t.Errorf("serve with GOMEMLIMIT=lots: got\n%s\nwant the configuration message, no runtime crash", out)
	}
}
