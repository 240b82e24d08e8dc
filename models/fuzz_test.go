package models

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"gatehouse/internal/secret"
)

// FuzzSessionIDFromToken checks cookie-token parsing on any input: it never
// panics, accepts exactly the 43-character strict base64url encodings of
// 32 bytes (the one token primitive, internal/secret, decodes strictly, as
// reset links always did), and maps an accepted token to its SHA-256
// (never to the token itself). Seeds: testdata/fuzz/FuzzSessionIDFromToken.
func FuzzSessionIDFromToken(f *testing.F) {
	tok, _, err := newSessionToken()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, "", "x", strings.Repeat("A", 43), strings.Repeat("A", 44), tok[:42] + "=", tok[:42] + "+", tok + "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := SessionIDFromToken(s)
		b, decErr := base64.RawURLEncoding.Strict().DecodeString(s)
		want := len(s) == 43 && decErr == nil && len(b) == 32
		if ok != want {
			t.Fatalf("SessionIDFromToken(%q): got ok %v, want %v", s, ok, want)
		}
		if !ok {
			if id != "" {
				t.Fatalf("rejected token %q gave id %q", s, id)
			}
			return
		}
		if raw, err := hex.DecodeString(id); err != nil || len(raw) != 32 || id == s {
			t.Fatalf("accepted token %q gave id %q, want 64 hex characters", s, id)
		}
		if id != secret.Hash(s) {
			t.Fatalf("id %q is not the token's SHA-256", id)
		}
	})
}

// FuzzResetTokenHash checks reset-link token parsing on any input: it never
// panics, accepts exactly the 43-character strict base64url encodings of
// the token's bytes, and maps an accepted token to its SHA-256 (never to
// the token itself); rejected tokens give ErrInvalidToken and no hash.
// Seeds: testdata/fuzz/FuzzResetTokenHash.
func FuzzResetTokenHash(f *testing.F) {
	b := make([]byte, secret.Bytes)
	for i := range b {
		b[i] = byte(i * 7)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	for _, s := range []string{tok, "", "x", strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("A", 44),
		tok[:42] + "=", tok[:42] + "+", tok[:42] + "/", tok + "\x00", tok[:42] + "B", "../" + tok[3:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hash, err := TokenHash(s)
		raw, decErr := base64.RawURLEncoding.Strict().DecodeString(s)
		want := len(s) == 43 && decErr == nil && len(raw) == secret.Bytes
		if (err == nil) != want {
			t.Fatalf("TokenHash(%q): got err %v, want accepted %v", s, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || hash != "" {
				t.Fatalf("rejected token %q: got hash %q, err %v; want \"\" and ErrInvalidToken", s, hash, err)
			}
			return
		}
		sum := sha256.Sum256([]byte(s))
		if hash != hex.EncodeToString(sum[:]) || hash == s || !validHash(hash) {
			t.Fatalf("accepted token %q gave hash %q, want its SHA-256 in hex", s, hash)
		}
		// The canonical encoding of the bytes is the token itself, so one
		// set of bytes has exactly one accepted spelling.
		if base64.RawURLEncoding.EncodeToString(raw) != s {
			t.Fatalf("token %q is not the canonical encoding of its bytes", s)
		}
	})
}
