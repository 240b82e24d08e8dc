package route

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoPathLiteralOutsideTheTable reads the app's source (Go and templ,
// tests and generated code aside) and fails on any string literal that is
// one of the table's paths or starts like one: every URL is built from a
// name (URL), so a path is written once, here.
func TestNoPathLiteralOutsideTheTable(t *testing.T) {
	literal := regexp.MustCompile(`"(/(?:accounts|admin|i18n|auth|oidc|\.well-known)(?:/[^"]*)?)"`)
	var files []string
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "e2e" || name == "testdata" || path == "../../internal/route" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "_templ.go") {
			return nil
		}
		if strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".templ") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d source files; the walk is broken", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "//") {
				continue
			}
			for _, m := range literal.FindAllStringSubmatch(line, -1) {
				t.Errorf("%s:%d: path literal %s: build it with route.URL from the table", f, i+1, m[1])
			}
		}
	}
}

// TestURLFillsParameters: parameters fill the pattern's segments in order,
// escaped; every route's pattern starts and ends with a slash (Django's),
// except the probes and forward auth's two endpoints, whose paths DESIGN.md
// fixes for the proxies' configurations.
func TestURLFillsParameters(t *testing.T) {
	if got := URL(AdminSessionRevoke, 7, "abc"); got != "/admin/users/7/sessions/abc/revoke/" {
		t.Errorf("got %q", got)
	}
	if got := URL(ResetLink, "a/b c"); got != "/accounts/reset/a%2Fb%20c/" {
		t.Errorf("got %q, want the token escaped as one segment", got)
	}
	noSlash := map[Name]bool{Healthz: true, Readyz: true, ForwardAuth: true, ForwardRequest: true}
	for _, n := range Names() {
		p := Pattern(n)
		// Discovery's path is fixed by OpenID Connect Discovery 1.0 §4.
		if !strings.HasPrefix(p, "/") || (!noSlash[n] && n != OIDCDiscovery && !strings.HasSuffix(p, "/")) {
			t.Errorf("%s: pattern %q", n, p)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a missing parameter did not panic")
		}
	}()
	URL(AdminUser)
}

// TestReachedByNamesRoutes: the reach table names only routes of the
// table, and the default is Link.
func TestReachedByNamesRoutes(t *testing.T) {
	for n := range reachedBy {
		if _, ok := patterns[n]; !ok {
			t.Errorf("reachedBy names %q, which is not a route", n)
		}
	}
	if ReachedBy(Profile) != Link || ReachedBy(ConfirmEmail) != Mail {
		t.Error("wrong reach")
	}
}
