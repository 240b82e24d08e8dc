package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/internal/djangoimport"
	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// djangoPython returns a Python interpreter that has Django, bcrypt and
// argon2-cffi (Debian: python3-django python3-bcrypt python3-argon2). The
// test is skipped without one, unless CI is set: there it must run.
func djangoPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("PYTHON"); p != "" {
		candidates = append([]string{p}, candidates...)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import django, bcrypt, argon2").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no python3 with django, bcrypt and argon2 was found (apt-get install python3-django python3-bcrypt python3-argon2)")
	}
	t.Skip("no python3 with django, bcrypt and argon2 (apt-get install python3-django python3-bcrypt python3-argon2)")
	return ""
}

// djangoUser is one user testdata/django/make_django_db.py created.
type djangoUser struct {
	Username, Password, Hasher, Kind string
}

// makeDjangoDB runs the committed script: real Django migrates target (an
// SQLite path or a postgres:// URL) and creates the test users.
func makeDjangoDB(t *testing.T, python, target string, extraEnv ...string) []djangoUser {
	t.Helper()
	cmd := exec.Command(python, "testdata/django/make_django_db.py", target)
	cmd.Env = append(os.Environ(), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make_django_db.py: %v\n%s", err, stderr.String())
	}
	var users []djangoUser
	if err := json.Unmarshal(out, &users); err != nil {
		t.Fatalf("make_django_db.py output: %v", err)
	}
	return users
}

func importCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"importdjango"}, args...), envMap(env), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// summaryCount reads a line "  <label>   <n>" of the summary.
func summaryCount(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `\s+(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary has no %q line:\n%s", label, out)
	}
	return m[1]
}

func wantSummary(t *testing.T, out string, want map[string]string) {
	t.Helper()
	for label, n := range want {
		if got := summaryCount(t, out, label); got != n {
			t.Errorf("summary %q: got %s, want %s\n%s", label, got, n, out)
		}
	}
}

func openUsers(t *testing.T, dbPath string) (*models.Users, func()) {
	t.Helper()
	db, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	return models.NewUsers(db, passhash.NewHasher(passhash.DefaultHashParams, 1, time.Minute)), func() { models.Close(db) }
}

func userCount(t *testing.T, dbPath string) int64 {
	t.Helper()
	users, done := openUsers(t, dbPath)
	defer done()
	l, err := users.List(context.Background(), models.UserQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Total
}

// TestImportDjango imports a database real Django made (SQLite, and
// PostgreSQL when TEST_DATABASE_URL is set), then every imported user logs
// in with their Django password through the real server and ends up with
// an argon2id hash.
func TestImportDjango(t *testing.T) {
	python := djangoPython(t)
	t.Run("sqlite", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "django.sqlite3")
		users := makeDjangoDB(t, python, src)
		testImportDjango(t, src, users, func(query string, args ...any) {
			execSource(t, "sqlite3", "file:"+src, query, args...)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		if !testdb.Postgres() {
			t.Skip("TEST_DATABASE_URL is not set")
		}
		src := testdb.URL(t) // a fresh database for Django
		users := makeDjangoDB(t, python, src)
		testImportDjango(t, src, users, func(query string, args ...any) {
			execSource(t, "pgx", src, strings.ReplaceAll(query, "?", "$1"), args...)
		})
	})
}

func execSource(t *testing.T, driver, dsn, query string, args ...any) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("change the Django database: %v", err)
	}
}

func testImportDjango(t *testing.T, src string, djangoUsers []djangoUser, changeSource func(string, ...any)) {
	dbPath := testdb.URL(t) // Gatehouse's database: SQLite, or PostgreSQL with TEST_DATABASE_URL
	env := map[string]string{"DATABASE_URL": dbPath, "HASH_CONCURRENCY": "2"}
	skipped := map[string]string{ // username -> reason
		"Alice": djangoimport.SkipUsernameConflict, "alice": djangoimport.SkipUsernameConflict,
		"carol": djangoimport.SkipEmailConflict, "dave": djangoimport.SkipEmailConflict,
		"maria": djangoimport.SkipLookalikeConflict, "m\u0430ria": djangoimport.SkipLookalikeConflict,
		"oldmd5": djangoimport.SkipUnsupportedHash, "bogus": djangoimport.SkipUnsupportedHash,
	}
	skipLine := func(out, username, reason string) bool {
		return regexp.MustCompile(`(?m)^\s+\d+\s+` + regexp.QuoteMeta(`"`+username+`"`) + `\s+` + regexp.QuoteMeta(reason) + `\s`).MatchString(out)
	}

	t.Run("dry run writes nothing", func(t *testing.T) {
		out, _, err := importCmd(t, env, "--dry-run", src)
		if err == nil || !strings.Contains(err.Error(), "8 user(s) skipped") {
			t.Fatalf("dry run: got error %v, want 8 skipped\n%s", err, out)
		}
		wantSummary(t, out, map[string]string{"users read from Django": "20", "would be imported": "12", "would be skipped": "8"})
		if n := userCount(t, dbPath); n != 0 {
			t.Fatalf("after a dry run: got %d users, want 0", n)
		}
	})

	t.Run("import reports conflicts and fails without --allow-skips", func(t *testing.T) {
		out, _, err := importCmd(t, env, src)
		if err == nil || !strings.Contains(err.Error(), "--allow-skips") {
			t.Fatalf("import with skips: got error %v, want a failure naming --allow-skips\n%s", err, out)
		}
		for username, reason := range skipped {
			if !skipLine(out, username, reason) {
				t.Errorf("report does not list %q as %q:\n%s", username, reason, out)
			}
		}
		if !strings.Contains(out, `same username in another letter case as "alice"`) || !strings.Contains(out, `same e-mail address as "carol"`) {
			t.Errorf("report does not name the other account of each conflict:\n%s", out)
		}
		wantSummary(t, out, map[string]string{
			"users read from Django": "20", "imported": "12", "updated": "0", "skipped": "8",
			djangoimport.SkipUsernameConflict: "2", djangoimport.SkipLookalikeConflict: "2", djangoimport.SkipEmailConflict: "2",
			djangoimport.SkipUnsupportedHash: "2", "pbkdf2_sha256": "10", "pbkdf2_sha1": "1", "argon2 (Django)": "2", "bcrypt_sha256": "2",
			"bcrypt": "1", "scrypt": "1", "unusable": "1", "unknown": "2",
		})
		for _, word := range []string{"Dj4ngo-", "pbkdf2_sha256$", "$2b$"} {
			if strings.Contains(out, word) {
				t.Errorf("report shows a password or hash (%q):\n%s", word, out)
			}
		}
	})

	t.Run("imported fields", func(t *testing.T) {
		users, done := openUsers(t, dbPath)
		defer done()
		ctx := context.Background()
		get := func(name string) *models.User {
			u, err := users.ByUsername(ctx, name)
			if err != nil {
				t.Fatalf("user %q: %v", name, err)
			}
			return u
		}
		if u := get("root"); !u.IsSuperuser || !u.IsStaff || !u.IsActive || u.Email != "root@example.com" {
			t.Errorf("root: got superuser=%v staff=%v active=%v email=%q", u.IsSuperuser, u.IsStaff, u.IsActive, u.Email)
		}
		if u := get("staffer"); !u.IsStaff || u.IsSuperuser || u.LastLogin == nil || time.Since(*u.LastLogin) < 48*time.Hour {
			t.Errorf("staffer: got staff=%v superuser=%v last_login=%v, want staff, 3 days ago", u.IsStaff, u.IsSuperuser, u.LastLogin)
		}
		if u := get("sleeper"); u.IsActive {
			t.Errorf("sleeper: got active, want inactive")
		}
		if u := get("nopass"); passhash.HashAlgorithm(u.Password) != passhash.AlgUnusable {
			t.Errorf("nopass: got %s, want an unusable password", passhash.HashAlgorithm(u.Password))
		}
		if u := get("noemail"); u.Email != "" {
			t.Errorf("noemail: got email %q", u.Email)
		}
		if u := get("jürgen"); u.DateJoined.IsZero() || time.Since(u.DateJoined) > time.Hour {
			t.Errorf("jürgen: date_joined %v, want Django's (just now)", u.DateJoined)
		}
		for _, du := range djangoUsers {
			if _, skip := skipped[du.Username]; skip {
				if _, err := users.ByUsername(ctx, du.Username); !errors.Is(err, models.ErrNotFound) {
					t.Errorf("skipped user %q: got %v, want not found", du.Username, err)
				}
				continue
			}
			if got, want := passhash.HashAlgorithm(get(du.Username).Password), passhash.HashAlgorithm(hashOf(t, du)); got != want {
				t.Errorf("%s: stored hash is %s, want %s as Django had it", du.Username, got, want)
			}
		}
	})

	t.Run("re-run is idempotent", func(t *testing.T) {
		out, _, err := importCmd(t, env, src, "--allow-skips")
		if err != nil {
			t.Fatalf("re-run with --allow-skips: %v\n%s", err, out)
		}
		wantSummary(t, out, map[string]string{"imported": "0", "updated": "0", "unchanged": "12", "skipped": "8"})
		if n := userCount(t, dbPath); n != 12 {
			t.Fatalf("after two imports: got %d users, want 12", n)
		}
	})

	t.Run("every imported user logs in and is upgraded", func(t *testing.T) {
		base, stop := serveForTest(t, env)
		defer stop()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		login := func(username, password string) int {
			res, err := client.PostForm(base+"/accounts/login/", url.Values{"username": {username}, "password": {password}})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode
		}
		users, done := openUsers(t, dbPath)
		defer done()
		for _, du := range djangoUsers {
			if _, skip := skipped[du.Username]; skip {
				continue
			}
			want := http.StatusSeeOther
			switch du.Kind {
			case "inactive":
				want = http.StatusForbidden // the right password: the "account inactive" page
			case "unusable":
				want = http.StatusUnprocessableEntity
			}
			if got := login(du.Username, du.Password); got != want {
				t.Errorf("%s (%s): login got %d, want %d", du.Username, du.Hasher, got, want)
				continue
			}
			u, err := users.ByUsername(context.Background(), du.Username)
			if err != nil {
				t.Fatal(err)
			}
			alg := passhash.HashAlgorithm(u.Password)
			switch {
			case want == http.StatusSeeOther && alg != passhash.AlgArgon2id:
				t.Errorf("%s: after login the stored hash is %s, want argon2id", du.Username, alg)
			case want != http.StatusSeeOther && alg == passhash.AlgArgon2id:
				t.Errorf("%s: refused, yet the stored hash was upgraded", du.Username)
			}
		}
		// The skipped users do not exist in Gatehouse.
		if got := login("alice", "Dj4ngo-alice-pass"); got != http.StatusUnprocessableEntity {
			t.Errorf("skipped user alice: login got %d, want 422", got)
		}
	})

	t.Run("re-import keeps upgraded hashes and updates changed users", func(t *testing.T) {
		// Django changed since: sleeper was re-activated, staffer's address
		// changed. (root's password hash in Django is older than the
		// argon2id hash Gatehouse now holds.)
		changeSource("UPDATE auth_user SET is_active = ? WHERE username = 'sleeper'", true)
		changeSource("UPDATE auth_user SET email = ? WHERE username = 'staffer'", "staffer@new.example.com")
		out, _, err := importCmd(t, env, src, "--allow-skips")
		if err != nil {
			t.Fatalf("re-import: %v\n%s", err, out)
		}
		wantSummary(t, out, map[string]string{"imported": "0", "updated": "2", "unchanged": "10", "skipped": "8"})
		users, done := openUsers(t, dbPath)
		defer done()
		ctx := context.Background()
		for _, du := range djangoUsers {
			if _, skip := skipped[du.Username]; skip || du.Kind == "inactive" || du.Kind == "unusable" {
				continue
			}
			u, err := users.ByUsername(ctx, du.Username)
			if err != nil {
				t.Fatal(err)
			}
			if alg := passhash.HashAlgorithm(u.Password); alg != passhash.AlgArgon2id {
				t.Errorf("%s: re-import replaced the upgraded hash with %s", du.Username, alg)
			}
		}
		if u, _ := users.ByUsername(ctx, "sleeper"); u == nil || !u.IsActive {
			t.Errorf("sleeper: re-import did not carry is_active over")
		}
		if u, _ := users.ByUsername(ctx, "staffer"); u == nil || u.Email != "staffer@new.example.com" {
			t.Errorf("staffer: re-import did not carry the new address over")
		}
	})

	t.Run("clashes with Gatehouse accounts are skipped", func(t *testing.T) {
		other := map[string]string{"DATABASE_URL": testdb.URL(t), "HASH_CONCURRENCY": "2"}
		for _, args := range [][]string{
			{"createsuperuser", "--username", "ROOT", "--email", "boss@example.com", "--password-stdin"},
			{"createsuperuser", "--username", "someone", "--email", "BCRYPT@example.com", "--password-stdin"},
			// Looks like Django's "noemail" (0 for o).
			{"createsuperuser", "--username", "n0email", "--email", "zero@example.com", "--password-stdin"},
		} {
			if out, err := runCmd(t, other, "Sup3r-Secret-pass\n", args...); err != nil {
				t.Fatalf("%v: %v %s", args, err, out)
			}
		}
		out, _, err := importCmd(t, other, src)
		if err == nil {
			t.Fatalf("import with clashes: got success, want failure")
		}
		if !skipLine(out, "root", djangoimport.SkipUsernameTaken) || !skipLine(out, "u_bcrypt", djangoimport.SkipEmailTaken) ||
			!skipLine(out, "noemail", djangoimport.SkipUsernameTaken) || !strings.Contains(out, `looks like Gatehouse account "n0email"`) {
			t.Errorf("report does not list root, u_bcrypt and noemail as clashes:\n%s", out)
		}
		wantSummary(t, out, map[string]string{"imported": "9", "skipped": "11"})
		users, done := openUsers(t, other["DATABASE_URL"])
		defer done()
		u, err := users.ByUsername(context.Background(), "root")
		if err != nil || u.Username != "ROOT" || u.Email != "boss@example.com" {
			t.Errorf("the existing ROOT account was changed: %+v %v", u, err)
		}
	})
}

// hashOf is a representative stored hash of the algorithm du was made with,
// to compare algorithm names.
func hashOf(t *testing.T, du djangoUser) string {
	t.Helper()
	switch du.Kind {
	case "unusable":
		return "!"
	}
	return map[string]string{
		"pbkdf2_sha256": "pbkdf2_sha256$", "pbkdf2_sha1": "pbkdf2_sha1$", "argon2": "argon2$",
		"bcrypt_sha256": "bcrypt_sha256$", "bcrypt": "bcrypt$", "scrypt": "scrypt$",
	}[du.Hasher]
}

// serveForTest runs `gatehouse serve` (run with no command) on env's
// database on a free port and returns its base URL.
func serveForTest(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	senv := map[string]string{"ADDR": "127.0.0.1:0"}
	for k, v := range env {
		senv[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(senv), strings.NewReader(""), out, logs) }()
	re := regexp.MustCompile(`listening on (http://\S+)/`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
				if strings.Contains(logs.String(), "Dj4ngo-") {
					t.Errorf("server logs contain a password")
				}
			}
		}
	}
	cancel()
	t.Fatalf("server did not start: %s %s", out.String(), logs.String())
	return "", nil
}

// TestImportDjangoBadSources: every bad SOURCE or usage gets a clear error,
// the source is never created, and Gatehouse's database gets no users.
func TestImportDjangoBadSources(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": testdb.URL(t)}
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	noAuth := filepath.Join(dir, "empty.sqlite3")
	execSource(t, "sqlite3", noAuth, "CREATE TABLE other (id integer)")
	missing := filepath.Join(dir, "missing.sqlite3")
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no source", nil, "missing SOURCE"},
		{"two sources", []string{noAuth, notDB}, "unexpected argument"},
		{"unknown flag", []string{"--merge", noAuth}, "flag provided but not defined"},
		{"missing file", []string{missing}, "no such file"},
		{"directory", []string{dir}, "is a directory"},
		{"not a database", []string{notDB}, "file is not a database"},
		{"no auth_user table", []string{noAuth}, "no such table: auth_user"},
		{"unreachable postgres", []string{"postgres://u:secret-pw@127.0.0.1:1/django?connect_timeout=2"}, "django database"},
		{"password in the query", []string{"postgresql://u@127.0.0.1:1/django?connect_timeout=2&password=secret-pw"}, "django database"},
		{"URL that does not parse", []string{"postgres://u:secret-pw@127.0.0.1:1/dj%zzango"}, "django database"},
		{"dry run, unreachable", []string{"--dry-run", "postgres://u:secret-pw@127.0.0.1:1/django?connect_timeout=2"}, "django database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := importCmd(t, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q\n%s%s", err, tc.wantErr, out, errOut)
			}
			if strings.Contains(out+errOut+err.Error(), "secret-pw") {
				t.Errorf("output shows the source's password: %s %s %v", out, errOut, err)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing source was created: %v", err)
	}
	if n := userCount(t, env["DATABASE_URL"]); n != 0 {
		t.Errorf("got %d users after failed imports, want 0", n)
	}
}

// TestImportDjangoEdgeCases: a superuser without is_staff becomes a
// superuser with staff access (Gatehouse's superuser implies it), who can
// open the admin; a megabyte username is skipped with a report line of
// bounded size.
func TestImportDjangoEdgeCases(t *testing.T) {
	src := filepath.Join(t.TempDir(), "django.sqlite3")
	// Django's auth_user table, as its migrations make it.
	execSource(t, "sqlite3", src, `CREATE TABLE auth_user (id integer PRIMARY KEY AUTOINCREMENT, password varchar(128) NOT NULL,
		last_login datetime NULL, is_superuser bool NOT NULL, username varchar(150) NOT NULL UNIQUE, last_name varchar(150) NOT NULL,
		email varchar(254) NOT NULL, is_staff bool NOT NULL, is_active bool NOT NULL, date_joined datetime NOT NULL, first_name varchar(150) NOT NULL)`)
	const hash = "pbkdf2_sha256$260000$VHela7k5zKqT98LbaSE4sG$Uj2ZVdZdf/ARXJc192fqdi78271maw+lPOvG/5EZqdU="
	execSource(t, "sqlite3", src, `INSERT INTO auth_user (password, is_superuser, username, last_name, email, is_staff, is_active, date_joined, first_name)
		VALUES (?, 1, 'root', '', 'root@example.com', 0, 1, '2024-01-02 03:04:05', ''), (?, 0, ?, '', 'big@example.com', 0, 1, '2024-01-02 03:04:05', '')`,
		hash, hash, strings.Repeat("x", 1<<20))
	env := map[string]string{"DATABASE_URL": testdb.URL(t)}
	out, errOut, err := importCmd(t, env, "--allow-skips", src)
	if err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, errOut)
	}
	if len(out)+len(errOut) > 16<<10 {
		t.Fatalf("the report is %d bytes for one skipped megabyte username", len(out)+len(errOut))
	}
	users, done := openUsers(t, env["DATABASE_URL"])
	defer done()
	root, err := users.ByUsername(context.Background(), "root")
	if err != nil || !root.IsSuperuser || !root.IsStaff {
		t.Fatalf("root imported as %+v (%v); want a superuser with staff access", root, err)
	}
}
