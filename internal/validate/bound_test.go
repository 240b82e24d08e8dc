package validate

import (
	"runtime"
	"strings"
	"testing"
)

// hostileInputs are ~1 MB values built to make validators expensive: a
// letter NFKC expands 18-fold (U+FDFA), an address that splits into half a
// million parts, and plain oversized text.
func hostileInputs() map[string]string {
	const mb = 1 << 20
	return map[string]string{
		"fdfa":       strings.Repeat("\uFDFA", mb/3),
		"at-dot":     strings.Repeat("@.", mb/2),
		"parts":      strings.Repeat("a@.", mb/3),
		"letters":    strings.Repeat("a", mb),
		"fdfa-short": strings.Repeat("\uFDFA", 150),        // valid length before NFKC
		"many-parts": strings.Repeat("a.", 120) + "a@x.io", // a valid address
	}
}

// bytesAllocated returns the bytes f allocates (the whole process; the
// test runs alone in its package so that is f's).
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestValidatorsBoundedOnHostileInput: every validator and normaliser does
// work bounded by its field's limit, however large the input: a 1 MB value
// costs no more than a few KB, and a password's similarity check never sees
// a username or address that failed its own validation.
func TestValidatorsBoundedOnHostileInput(t *testing.T) {
	const limit = 64 << 10
	for name, v := range hostileInputs() {
		calls := map[string]func(){
			"NormalizeUsername": func() { ValidateUsername(NormalizeUsername(v)) },
			"UsernameKey":       func() { UsernameKey(v) },
			"NormalizeEmail":    func() { ValidateEmail(NormalizeEmail(v)) },
			"EmailKey":          func() { EmailKey(v) },
			"ValidatePassword":  func() { ValidatePassword(v, "bob", "bob@example.com") },
			"similarity user":   func() { ValidatePassword("correct horse battery", v, "") },
			"similarity email":  func() { ValidatePassword("correct horse battery", "bob", v) },
			"similarity both":   func() { ValidatePassword("a@.a@.a@.a@.a@.", v, v) },
		}
		for call, f := range calls {
			f() // warm up one-time tables (common passwords, NFKC)
			if got := bytesAllocated(f); got > limit {
				t.Errorf("%s(%s): allocated %d bytes, want at most %d", call, name, got, limit)
			}
		}
	}
}

// TestPasswordSimilarityUsesValidAttributesOnly: an attribute that fails its
// own validation is not compared (it could be any size), a valid one is.
func TestPasswordSimilarityUsesValidAttributesOnly(t *testing.T) {
	cases := []struct {
		name, password, username, email string
		wantSimilar                     bool
	}{
		{"valid username", "rosalind42", "rosalind42x", "", true},
		{"valid email part", "rosalind!", "bob", "rosalind@example.com", true},
		{"invalid username", "rosa lind!", "rosa lind!", "", false},
		{"invalid email", "rosalind@@x", "bob", "rosalind@@x", false},
		{"oversized username", "aaaaaaaaaa", strings.Repeat("a", 4*UsernameMaxLen+1), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := false
			for _, m := range ValidatePassword(tc.password, tc.username, tc.email) {
				if strings.Contains(m, "too similar") {
					got = true
				}
			}
			if got != tc.wantSimilar {
				t.Errorf("got similar=%v, want %v", got, tc.wantSimilar)
			}
		})
	}
}

// BenchmarkValidatorsHostile measures the validators on 1 MB hostile values;
// each should take microseconds, not seconds.
func BenchmarkValidatorsHostile(b *testing.B) {
	in := hostileInputs()
	for _, name := range []string{"fdfa", "at-dot", "parts", "letters"} {
		v := in[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				u := NormalizeUsername(v)
				ValidateUsername(u)
				e := NormalizeEmail(v)
				ValidateEmail(e)
				ValidatePassword("correct horse battery", u, e)
				ValidatePassword(v, u, e)
				UsernameKey(v)
				EmailKey(v)
			}
		})
	}
}
