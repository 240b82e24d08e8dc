package handlers

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// authorityRE is what validAuthority checks, as the regular expression it
// was: the reference the loop is held to.
var authorityRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// TestValidAuthorityIsTheRegexp: validAuthority answers as authorityRE,
// for hand-picked hosts and tricks and for 200 000 random strings over the
// characters that matter (letters, digits, dot, hyphen, colon, @, slash,
// backslash, brackets, percent, space, a control character, non-ASCII).
func TestValidAuthorityIsTheRegexp(t *testing.T) {
	cases := []string{"", "a", "example.test", "app.example.test:8080", "a:1", "a:12345", "a:123456", "a:", ":80",
		"a::80", "a:8:0", "a:-1", "user@host", "host/path", `host\evil`, "[::1]", "[::1]:80", "ex%61mple", "a b",
		"a\x00b", "a\nb", "été.test", "A-Z.0-9", "..", "-", "a:0x10", "a:+80", "a:٣"}
	for _, c := range cases {
		if got, want := validAuthority(c), authorityRE.MatchString(c); got != want {
			t.Errorf("validAuthority(%q): got %v, want %v (the regexp's)", c, got, want)
		}
	}
	alphabet := []rune("aZ09.-:@/\\[]% \x00é٣")
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range 200000 {
		b.Reset()
		for range r.IntN(12) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if got, want := validAuthority(s), authorityRE.MatchString(s); got != want {
			t.Fatalf("validAuthority(%q): got %v, want %v (the regexp's)", s, got, want)
		}
	}
}
