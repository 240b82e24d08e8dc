package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// goTask runs `go tool task ARGS` in the repository with extra environment
// variables and returns its combined output.
func goTask(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go tool task")
	}
	cmd := exec.Command("go", append([]string{"tool", "task"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// `task dev` follows ADDR: the app listens there, the proxy forwards there
// and binds to its host, and the proxy port moves off ADDR's port; the
// watcher also reacts to assets/.
func TestTaskfileDev(t *testing.T) {
	cases := []struct {
		name   string
		env    []string
		args   []string
		target string // --proxy
		bind   string // --proxybind
		port   string // --proxyport
	}{
		{"go tool task dev", nil, nil, "http://localhost:8080", "localhost", "7331"},
		{"ADDR=127.0.0.1:9000 go tool task dev", []string{"ADDR=127.0.0.1:9000"}, nil, "http://127.0.0.1:9000", "127.0.0.1", "7331"},
		{"go tool task dev ADDR=127.0.0.1:9000", nil, []string{"ADDR=127.0.0.1:9000"}, "http://127.0.0.1:9000", "127.0.0.1", "7331"},
		{"go tool task dev PROXY_PORT=7400", nil, []string{"PROXY_PORT=7400"}, "http://localhost:8080", "localhost", "7400"},
		{"ADDR=0.0.0.0:7331", []string{"ADDR=0.0.0.0:7331"}, nil, "http://localhost:7331", "0.0.0.0", "7332"},
		{"ADDR=[::1]:9000", []string{"ADDR=[::1]:9000"}, nil, "http://[::1]:9000", "::1", "7331"},
		{"PROXY_BIND=0.0.0.0", []string{"PROXY_BIND=0.0.0.0"}, nil, "http://localhost:8080", "0.0.0.0", "7331"},
		// The example rules reach the app through the environment.
		{"ACCESS_RULES=examples/access-rules.yml go tool task dev", []string{"ACCESS_RULES=examples/access-rules.yml"}, nil, "http://localhost:8080", "localhost", "7331"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := append([]string{"ADDR=", "PROXY_PORT=", "PROXY_BIND="}, tc.env...)
			out, err := goTask(t, env, append([]string{"--dry", "dev"}, tc.args...)...)
			if err != nil {
				t.Fatalf("go tool task --dry dev: %v\n%s", err, out)
			}
			for _, want := range []string{
				`--proxy="` + tc.target + `"`, `--proxybind="` + tc.bind + `"`, "--proxyport=" + tc.port,
				`--watch-pattern='(.+\.go$)|(.+\.templ$)|(assets/[^/]+\.(css|js|svg)$)'`, `--cmd="go run ."`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("got\n%s\nwant %s", out, want)
				}
			}
		})
	}
}

// The dev task hands the environment to the app: it sets no setting the
// examples under examples/ are given in (ACCESS_RULES, SOCIAL_PROVIDERS).
func TestTaskfileDevKeepsTheExamplesSettings(t *testing.T) {
	b, err := os.ReadFile("Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ACCESS_RULES", "SOCIAL_PROVIDERS"} {
		if strings.Contains(string(b), k) {
			t.Errorf("Taskfile.yml names %s: `%s=examples/… go tool task dev` must reach the app unchanged", k, k)
		}
	}
}

// `go tool task` with no task lists the tasks and succeeds; build does not
// force a -trimpath rebuild of everything.
func TestTaskfileDefaultAndBuild(t *testing.T) {
	out, err := goTask(t, nil)
	if err != nil || !strings.Contains(out, "* dev:") || !strings.Contains(out, "* build:") {
		t.Errorf("go tool task: got %v\n%s\nwant the task list", err, out)
	}
	out, err = goTask(t, nil, "--dry", "--force", "build")
	if err != nil || !strings.Contains(out, "go build -o bin/gatehouse .") || strings.Contains(out, "-trimpath") {
		t.Errorf("go tool task --dry build: got %v\n%s\nwant a plain (cache-sharing) go build", err, out)
	}
}
