package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README must not drift from the code. Every command in its sh blocks
// is classified below, and every class is checked:
//
//   - run: this test runs the command itself, with "go run ." replaced by
//     the binary built from this tree, in a temporary directory, and checks
//     what the README says it does;
//   - task: a `go tool task` command; `go tool task --dry` must accept the
//     task and its variables, and flags after "--" must be flags of the
//     program the task runs;
//   - test: another test runs the same command; that test must exist and
//     its source must use the command's subcommand, arguments and flags;
//   - ci: .ci/run runs it; it must appear there verbatim;
//   - manual: it cannot run in a test; the reason says why. Keep this list
//     short.
//
// A command in the README with no class fails, and so does a class for a
// command the README no longer has.
type readmeCheck struct {
	run    func(t *testing.T, command string)
	task   bool
	test   string
	ci     bool
	manual string
}

var readmeCommands = map[string]readmeCheck{
	"go run .":                   {run: readmeServe},
	"go test ./...":              {ci: true},
	"go run . createsuperuser":   {test: "TestCreateSuperuserOnATerminal"},
	"go run . help":              {run: readmeShell("commands:")},
	"go run . changepassword -h": {run: readmeShell("usage: gatehouse changepassword [flags] USERNAME")},
	`echo "$ADMIN_PASSWORD" | go run . createsuperuser --username admin --email admin@example.com --password-stdin`: {
		run: readmeShell(`Superuser "admin" created successfully.`)},
	"go tool task dev":                                             {test: "TestTaskfileDev"},
	"ADDR=127.0.0.1:9000 go tool task dev":                         {test: "TestTaskfileDev"},
	"go tool task dev PROXY_PORT=7400":                             {test: "TestTaskfileDev"},
	"go tool task build":                                           {task: true},
	"go tool task screenshots":                                     {task: true},
	"ACCESS_RULES=examples/access-rules.yml go tool task dev":      {test: "TestTaskfileDev"},
	"caddy validate --config deploy/Caddyfile --adapter caddyfile": {test: "TestCaddyfile"},
	"docker build -t gatehouse .": {manual: "needs a Docker engine; TestDockerfile runs the image's build " +
		"(deploy/build.sh) and starts its result as the image would"},
	"docker run -p 8080:8080 -v gatehouse-data:/data gatehouse": {manual: "needs a Docker engine; TestDockerfile " +
		"starts the binary with the image's environment, user and volume"},
	"docker run -it -v gatehouse-data:/data gatehouse createsuperuser": {manual: "needs a Docker engine; " +
		"the command is the image's binary running createsuperuser (TestCreateSuperuserOnATerminal)"},
	`SECRET_KEY="$(openssl rand -base64 48)" docker compose up --build`: {manual: "needs a Docker engine; " +
		"TestComposeFile loads compose.yaml with Compose's own loader and TestCaddyfile runs its Caddy in front of the binary"},
	"docker compose exec gatehouse gatehouse createsuperuser": {manual: "needs a Docker engine; " +
		"the command is the image's binary running createsuperuser (TestCreateSuperuserOnATerminal)"},
	"go tool task e2e":                                       {task: true},
	"go tool task bench":                                     {task: true},
	"go tool task bench -- -duration 3s -skip-big":           {task: true},
	"go tool task bench -- -only 1,3,7.3 -profile /tmp/prof": {task: true},
	"go tool task microbench":                                {task: true},
	"go tool task i18n":                                      {task: true},
	"go run . oidc-client add --name Grafana --redirect-uri https://grafana.example.com/login/generic_oauth --skip-consent": {
		test: "TestOIDCClientCommand"},
	"go run . oidc-client list": {test: "TestOIDCClientCommand"},
	"go run . oidc-keys rotate": {test: "TestOIDCKeysRotate"},
	"go tool task bench -- -postgres 'postgres://gatehouse:gatehouse@127.0.0.1:5432/postgres?sslmode=disable'": {task: true},
	"sudo apt-get install chromium": {manual: "installs a system package; .ci/run installs the same one " +
		"(checked below: it must contain `apt-get install -y chromium`)"},
	"go tool pprof -top /tmp/prof/gatehouse /tmp/prof/small-home-r*.pprof": {manual: "reads the profiles a bench " +
		"run with -profile leaves; the bench command that writes them is checked as a task"},
	`pg_ctlcluster --skip-systemctl-redirect 15 main start && su postgres -c "psql -c \"CREATE ROLE gatehouse LOGIN CREATEDB PASSWORD 'gatehouse'\""`: {
		manual: "starts the machine's PostgreSQL and makes the test role; .ci/run does the same with the version " +
			"pg_lsclusters names (checked below: it must contain `CREATE ROLE gatehouse LOGIN CREATEDB`)"},
	"TEST_DATABASE_URL='postgres://gatehouse:gatehouse@127.0.0.1:5432/postgres?sslmode=disable' go test ./...": {
		manual: ".ci/run runs `go test ./...` with this TEST_DATABASE_URL (its port from pg_lsclusters; checked below)"},
}

// readmeCommandsIn returns the commands of the README's sh blocks, comments
// and surrounding space removed.
func readmeCommandsIn(t *testing.T, readme string) []string {
	t.Helper()
	var cmds []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		}
		if !in {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// readmeFiles are the README and the docs it links to: what a user reads.
func readmeFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %v (%d files)", err, len(docs))
	}
	return append([]string{"README.md"}, docs...)
}

// readREADME returns the README and the docs, one after the other.
func readREADME(t *testing.T) string {
	t.Helper()
	var all strings.Builder
	for _, f := range readmeFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		all.WriteString("\n")
	}
	return all.String()
}

func TestREADMECommands(t *testing.T) {
	readme := readREADME(t)
	cmds := readmeCommandsIn(t, readme)
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in README.md's sh blocks; the parser is broken", len(cmds))
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if seen[c] {
			continue
		}
		seen[c] = true
		check, ok := readmeCommands[c]
		if !ok {
			t.Errorf("README command %q is not classified in readmeCommands: run it here, or name the test or task that runs it", c)
			continue
		}
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			switch {
			case check.run != nil:
				if testing.Short() {
					t.Skip("runs the binary")
				}
				check.run(t, c)
			case check.task:
				if testing.Short() {
					t.Skip("runs go tool task")
				}
				readmeTask(t, c)
			case check.test != "":
				readmeCoveredBy(t, c, check.test)
			case check.ci:
				ci, err := os.ReadFile(".ci/run")
				if err != nil || !strings.Contains(string(ci), c) {
					t.Errorf(".ci/run does not run %q (%v)", c, err)
				}
			case check.manual != "":
				t.Logf("not run: %s", check.manual)
			default:
				t.Errorf("readmeCommands[%q] has no check", c)
			}
		})
	}
	for c := range readmeCommands {
		if !seen[c] {
			t.Errorf("readmeCommands classifies %q, which README.md no longer has: remove it", c)
		}
	}
	ci, err := os.ReadFile(".ci/run")
	for _, want := range []string{"apt-get install -y chromium", "CREATE ROLE gatehouse LOGIN CREATEDB",
		`TEST_DATABASE_URL="postgres://gatehouse:gatehouse@127.0.0.1:$pgport/postgres?sslmode=disable"`} {
		if err != nil || !strings.Contains(string(ci), want) {
			t.Errorf(".ci/run no longer contains %q, as a manual entry says (%v)", want, err)
		}
	}
}

// readmeShell runs the command with "go run ." replaced by the binary, in
// an empty directory holding the database, and wants want in its output.
func readmeShell(want string) func(t *testing.T, command string) {
	return func(t *testing.T, command string) {
		bin := gatehouseBinary(t)
		dir := t.TempDir()
		cmd := exec.Command("sh", "-c", strings.Replace(command, "go run .", bin, 1))
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "HASH_CONCURRENCY=1",
			"ADMIN_PASSWORD=Sup3r-Secret-pass"}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: got %v\n%s\nwant success and %q", command, err, out, want)
		}
	}
}

// readmeServe runs "go run ." as the README describes it: it serves, on
// ./gatehouse.db. Port 8080 may be taken on a test machine, so ADDR picks a
// free port; TestBaseURLDefaultsFromAddr covers the default address.
func readmeServe(t *testing.T, _ string) {
	bin := gatehouseBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "ADDR=127.0.0.1:0"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`^Gatehouse listening on (http://127\.0\.0\.1:\d+)/$`).FindStringSubmatch(sc.Text()); m != nil {
				lines <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-lines:
	case err := <-exited:
		t.Fatalf("go run . exited: %v", err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("go run . did not print its listening line")
	}
	res, err := http.Get(base + "/accounts/login/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("login page: got %d, want 200", res.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); err != nil {
		t.Errorf("the database is not ./gatehouse.db: %v", err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after Ctrl-C: got %v, want a clean exit", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Error("did not stop after Ctrl-C")
	}
}

// readmeTask checks a `go tool task NAME [VAR=value] [-- flags]` command
// with --dry, and the flags after "--" against the program's own -h.
func readmeTask(t *testing.T, command string) {
	fields := strings.Fields(command)
	if len(fields) < 4 || strings.Join(fields[:3], " ") != "go tool task" {
		t.Fatalf("%q is not a go tool task command", command)
	}
	args := append([]string{"tool", "task", "--dry"}, fields[3:]...)
	out, err := exec.Command("go", args...).CombinedOutput()
	name := fields[3]
	if err != nil || !strings.Contains(string(out), "task: ["+name+"]") {
		t.Fatalf("go %s: got %v\n%s", strings.Join(args, " "), err, out)
	}
	i := strings.Index(command, " -- ")
	if i < 0 {
		return
	}
	var flags []string
	for _, f := range strings.Fields(command[i+4:]) {
		if strings.HasPrefix(f, "-") {
			flags = append(flags, strings.SplitN(f, "=", 2)[0])
		}
	}
	// The task's command line ends with the arguments given after "--".
	var program []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "task: ["+name+"] "); ok {
			program = strings.Fields(strings.TrimSuffix(rest, command[i+4:]))
		}
	}
	if len(program) == 0 {
		t.Fatalf("no command for task %s in\n%s", name, out)
	}
	help, _ := exec.Command(program[0], append(program[1:], "-h")...).CombinedOutput()
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(f) + `\b`).Match(help) {
			t.Errorf("%s: %s is not a flag of %q; its -h says:\n%s", command, f, strings.Join(program, " "), help)
		}
	}
}

// readmeCoveredBy checks that test exists and uses the command: its
// subcommand, arguments, flags and variables.
func readmeCoveredBy(t *testing.T, command, test string) {
	body := testSource(t, test)
	if body == "" {
		t.Fatalf("%q is said to be run by %s, which does not exist", command, test)
	}
	for _, w := range strings.Fields(command) {
		switch w {
		case "go", "run", ".", "tool", "task":
			continue
		}
		if !strings.Contains(body, w) {
			t.Errorf("%s does not use %q of %q", test, w, command)
		}
	}
}

// testSource returns the source of the named test function (up to the next
// top-level func), searching every _test.go file of the repository.
func testSource(t *testing.T, name string) string {
	t.Helper()
	files, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "*_test.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(files)) {
		src, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(src)
		i := strings.Index(s, "\nfunc "+name+"(")
		if i < 0 {
			continue
		}
		s = s[i+1:]
		if j := strings.Index(s, "\nfunc "); j >= 0 {
			s = s[:j]
		}
		return s
	}
	return ""
}

// The README points only at files in the repository: no "../", and every
// relative link and every file name in backquotes exists.
func TestREADMEPointsInsideTheRepository(t *testing.T) {
	files, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	tracked, base := map[string]bool{}, map[string]bool{}
	for _, f := range strings.Fields(string(files)) {
		tracked[f], base[filepath.Base(f)] = true, true
		for d := filepath.Dir(f); d != "."; d = filepath.Dir(d) {
			tracked[d] = true
		}
	}
	// Files in this branch but not committed yet count too.
	for _, f := range strings.Fields(string(mustOutput(t, "git", "ls-files", "--others", "--exclude-standard"))) {
		tracked[f], base[filepath.Base(f)] = true, true
	}
	link := regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`)
	fileName := regexp.MustCompile("`((?:\\.?[A-Za-z0-9_-]+/)*[A-Za-z0-9_.-]+\\.(?:go|md|yml|LICENSE)|\\.ci/run)`")
	for _, doc := range readmeFiles(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for i, line := range strings.Split(text, "\n") {
			// A link from docs/ to a sibling file is fine; one out of the
			// repository is not.
			if strings.Contains(strings.ReplaceAll(line, "](../", ""), "../") ||
				doc == "README.md" && strings.Contains(line, "../") {
				t.Errorf("%s:%d points outside the repository: %s", doc, i+1, line)
			}
		}
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			rel := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(doc), target)))
			if strings.HasPrefix(rel, "../") || !tracked[strings.TrimSuffix(rel, "/")] {
				t.Errorf("%s links to %s, which is not in the repository", doc, target)
			}
		}
		for _, m := range fileName.FindAllStringSubmatch(text, -1) {
			name := m[1]
			if strings.Contains(name, "/") && !tracked[name] && !tracked[filepath.ToSlash(filepath.Join(filepath.Dir(doc), name))] ||
				!strings.Contains(name, "/") && !base[name] {
				t.Errorf("%s names %s, which is not in the repository", doc, name)
			}
		}
	}
}

func mustOutput(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// The README is the five-minute introduction: it stays short, and its tour
// shows exactly the screenshots the browser suite takes (a shot nobody
// links, or a link to a shot nobody takes, fails).
func TestREADMETour(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if n := strings.Count(readme, "\n"); n >= 300 {
		t.Errorf("README.md has %d lines, want under 300: move detail to docs/", n)
	}
	shots, err := filepath.Glob("docs/screenshots/*.png")
	if err != nil || len(shots) == 0 {
		t.Fatalf("docs/screenshots/*.png: %v (%d files)", err, len(shots))
	}
	taker := testSource(t, "TestBrowserScreenshots")
	linked := regexp.MustCompile(`!\[[^\]]+\]\((docs/screenshots/[^)]+\.png)\)`).FindAllStringSubmatch(readme, -1)
	seen := map[string]bool{}
	for _, m := range linked {
		seen[m[1]] = true
		if !strings.Contains(taker, `"`+filepath.Base(m[1])+`"`) {
			t.Errorf("README shows %s, which TestBrowserScreenshots does not take", m[1])
		}
	}
	for _, s := range shots {
		if !seen[filepath.ToSlash(s)] {
			t.Errorf("%s is in the repository but not in the README's tour (with alt text)", s)
		}
	}
}
