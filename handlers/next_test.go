package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"unicode"
)

var hostileNexts = []string{
	"", "//evil.example", "//evil.example/path", "///evil.example", "/\\evil.example", "\\\\evil.example",
	"\\/evil.example", "https://evil.example", "http:evil.example", "javascript:alert(1)",
	"JaVaScRiPt:alert(1)", "data:text/html,hi", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
	"/%09/evil.example", "/%2F/evil.example", "/%2f%2fevil.example", "%2F%2Fevil.example",
	"/%5Cevil.example", "/%5cevil.example", "/\x00", "/a\x7fb", " /accounts/", "/ /evil",
	"evil.example", "accounts/profile/", "/\u3000/evil", "/\u200b/x", "/%E3%80%80", "/\xff",
	"//", "/%", "/%zz", "@evil.example", "/@evil.example/../", strings.Repeat("/a", 2000),
}

func TestSafeNextRejectsHostileValues(t *testing.T) {
	for _, next := range hostileNexts {
		if got := safeNext(next, "/fallback/"); got != "/fallback/" && got != next {
			t.Errorf("safeNext(%q): got %q, want the value or the fallback", next, got)
		}
	}
	for _, next := range hostileNexts {
		if next == "/@evil.example/../" {
			continue // a local path, harmless
		}
		if isLocalPath(next) {
			t.Errorf("isLocalPath(%q): got true, want false", next)
		}
	}
	for _, next := range []string{"/", "/accounts/profile/", "/a?b=c&d=%2F", "/x#frag", "/caf%C3%A9/"} {
		if got := safeNext(next, "/fallback/"); got != next {
			t.Errorf("safeNext(%q): got %q, want it kept", next, got)
		}
	}
}

// Through the real login: a hostile next falls back to LOGIN_REDIRECT_URL.
func TestLoginIgnoresHostileNext(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	for _, next := range []string{"//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/\t/evil.example"} {
		t.Run(next, func(t *testing.T) {
			c := ts.client(t)
			page := c.get("/accounts/login/?next=" + url.QueryEscape(next))
			page.doc(t).Find("#login-form input[name=next], #passkey-login-form input[name=next]").Each(func(_ int, s *goquery.Selection) {
				t.Errorf("login page carries hostile next %q", s.AttrOr("value", ""))
			})
			res := c.postForm("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}, "next": {next}})
			wantRedirect(t, res, "/")
			hx := ts.client(t).htmxPost("/accounts/login/", url.Values{"username": {"alice"}, "password": {"correct-horse-battery"}, "next": {next}})
			wantStatus(t, hx, http.StatusOK)
			if got := hx.Header.Get("HX-Redirect"); got != "/" {
				t.Errorf("HX-Redirect: got %q, want /", got)
			}
		})
	}
}

// FuzzSafeNext checks the property browsers care about: whatever comes in,
// what comes out is the fallback or a path a browser resolves on this host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range hostileNexts {
		f.Add(s)
	}
	f.Add("/accounts/profile/?tab=1")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next, "/fallback/")
		if got == "/fallback/" {
			return
		}
		if got != next {
			t.Fatalf("safeNext changed the value: %q -> %q", next, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\") {
			t.Fatalf("unsafe value passed: %q", got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				t.Fatalf("control or space passed: %q", got)
			}
		}
		// Resolved against this site the way a browser does, it stays here.
		base, _ := url.Parse("https://site.example/accounts/login/")
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("passed a value url.Parse rejects: %q", got)
		}
		if u := base.ResolveReference(ref); u.Host != "site.example" || u.Scheme != "https" {
			t.Fatalf("%q resolves off-site to %v", got, u)
		}
		if dec, err := url.PathUnescape(got); err != nil || strings.HasPrefix(dec, "//") || strings.Contains(dec, "\\") {
			t.Fatalf("%q decodes to an off-site form %q", got, dec)
		}
	})
}
