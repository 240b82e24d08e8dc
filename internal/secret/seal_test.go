package secret

import (
	"bytes"
	"strings"
	"testing"
)

// TestSealer: a sealed value opens with its key and additional data only,
// not after any one-character change (including the last character's
// unused bits), and hostile input is refused without a panic.
func TestSealer(t *testing.T) {
	s, err := NewSealer(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer(bytes.Repeat([]byte("o"), 32))
	plain, aad := []byte("a TOTP secret"), []byte("user 7")
	v := s.Seal(plain, aad)
	if w := s.Seal(plain, aad); w == v || strings.Contains(v, "TOTP") {
		t.Errorf("two seals %q and %q: want different and opaque", v, w)
	}
	if got, err := s.Open(v, aad); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.Open(v, []byte("user 8")); err != ErrSealed {
		t.Errorf("opened with other additional data: %v", err)
	}
	if _, err := other.Open(v, aad); err != ErrSealed {
		t.Errorf("opened under another key: %v", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(v) {
		// Every other character in every place, so the last one's
		// unused bits change too (a lax decoder ignores them).
		for _, c := range alphabet {
			if bad := v[:i] + string(c) + v[i+1:]; bad != v {
				if got, err := s.Open(bad, aad); err == nil {
					t.Fatalf("changed at %d to %q: opened to %q", i, c, got)
				}
			}
		}
	}
	for _, bad := range []string{"", "!", v[:10], v + "A", strings.Repeat("A", MaxSealed+1)} {
		if _, err := s.Open(bad, aad); err != ErrSealed {
			t.Errorf("%.20q: %v, want ErrSealed", bad, err)
		}
	}
}
