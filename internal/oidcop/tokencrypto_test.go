package oidcop

import (
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// TestTokenCrypto: what the token crypto seals opens with the same key
// only, and not after any change; op's own JWE form (the access tokens
// and codes a Gatehouse before this format issued) still opens; hostile
// input is refused without a panic.
func TestTokenCrypto(t *testing.T) {
	key, err := deriveKey(strings.Repeat("k", 40), infoTokenCrypto)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := deriveKey(strings.Repeat("o", 40), infoTokenCrypto)
	c, err := newTokenCrypto(key)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := newTokenCrypto(other)
	const plain = "tokenid:subject"
	a, _ := c.Encrypt(plain)
	b, _ := c.Encrypt(plain)
	if a == b || strings.Contains(a, "tokenid") {
		t.Errorf("two seals of one value: %q and %q (want different, opaque)", a, b)
	}
	if got, err := c.Decrypt(a); err != nil || got != plain {
		t.Errorf("open: got %q, %v", got, err)
	}
	if _, err := d.Decrypt(a); err == nil {
		t.Error("opened under another key")
	}
	// Every one-character change is refused (GCM's tag).
	for i := range len(a) {
		ch := byte('A')
		if a[i] == 'A' {
			ch = 'B'
		}
		bad := a[:i] + string(ch) + a[i+1:]
		if got, err := c.Decrypt(bad); err == nil {
			t.Fatalf("changed at %d: opened to %q", i, got)
		}
	}
	var k32 [32]byte
	copy(k32[:], key)
	legacy, err := op.NewAES256GCMCrypto(k32, "").Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decrypt(legacy); err != nil || got != plain {
		t.Errorf("op's JWE form: got %q, %v", got, err)
	}
	if _, err := d.Decrypt(legacy); err == nil {
		t.Error("op's JWE form opened under another key")
	}
	for _, bad := range []string{"", ".", "....", "a.b.c.d.e", "!!!!", strings.Repeat("A", 40), strings.Repeat("A", 5000), a[:len(a)-1], a + "A"} {
		if got, err := c.Decrypt(bad); err == nil {
			t.Errorf("%.20q opened to %q", bad, got)
		}
	}
}
