package secret

import (
	"strings"
	"testing"
)

func TestNewIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := New()
		if err != nil || !Valid(tok) || seen[tok] {
			t.Fatalf("New: %q %v (seen %t)", tok, err, seen[tok])
		}
		seen[tok] = true
		if h := Hash(tok); !ValidHash(h) || h == tok {
			t.Fatalf("Hash(%q) = %q", tok, h)
		}
	}
}

// TestValidIsStrict: only New's exact form passes — not padded, not
// standard base64, not with stray bits in the last character, not other
// lengths.
func TestValidIsStrict(t *testing.T) {
	tok, _ := New()
	last := tok[:42]
	for _, bad := range []string{"", tok + "=", tok[:42], tok + "A", strings.ReplaceAll(tok, tok[:1], "+"),
		last + "B", // stray bits: the last character of 32 bytes carries 4 bits, so 'B' (000001) is not canonical
		strings.Repeat("\x00", Len), strings.Repeat("é", Len/2)} {
		if bad == tok {
			continue
		}
		if Valid(bad) && bad != tok {
			// 'B' is only invalid when the canonical character differs; skip a collision.
			if bad == last+"B" && tok[42] == 'B' {
				continue
			}
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "ab") {
		t.Error("Equal")
	}
	if HashIn("a", "b") == Hash("b") {
		t.Error("a domain does not separate hashes")
	}
}
