package validate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzUsernameNormalization checks the username pipeline on any input:
// nothing panics, normalising is idempotent, the key of a username equals
// the key of its stored form (so a user can always log in with the name
// shown to them), and a name that validates has a stable, non-empty key.
// Seeds: testdata/fuzz/FuzzUsernameNormalization.
func FuzzUsernameNormalization(f *testing.F) {
	for _, s := range []string{"alice", " Alice ", "ALICE", "ﬁ", "Straße", "STRASSE", "İstanbul", "\u00a8x", "x\u00a8", "a\u0308", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeUsername(s)
		if again := NormalizeUsername(n); again != n {
			t.Fatalf("NormalizeUsername not idempotent: %q -> %q -> %q", s, n, again)
		}
		key := UsernameKey(s)
		if k2 := UsernameKey(n); k2 != key {
			t.Fatalf("UsernameKey(%q) = %q but UsernameKey(normalised %q) = %q", s, key, n, k2)
		}
		if UsernameKey(s) != key {
			t.Fatalf("UsernameKey(%q) not deterministic", s)
		}
		msg := ValidateUsername(n)
		if msg != "" {
			return
		}
		if !utf8.ValidString(n) || n == "" || utf8.RuneCountInString(n) > UsernameMaxLen {
			t.Fatalf("ValidateUsername accepted %q", n)
		}
		if key == "" || strings.TrimSpace(key) != key {
			t.Fatalf("valid username %q has key %q", n, key)
		}
		if UsernameKey(key) != key {
			t.Fatalf("key of valid username %q is not stable: %q -> %q", n, key, UsernameKey(key))
		}
	})
}
