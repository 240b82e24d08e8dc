// Package secret is the one primitive for every secret Gatehouse hands
// out and later checks — session cookies, device cookies, reset and
// e-mail links, recovery codes, passkey challenges: make one from
// crypto/rand, decode a presented one strictly, store only its SHA-256,
// compare in constant time.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// Bytes is a token's entropy: 256 bits. Len is its text form's length.
const (
	Bytes = 32
	Len   = 43
)

// New returns a new token: Bytes random bytes in unpadded base64url.
func New() (string, error) {
	b, err := Random(Bytes)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Random returns n bytes from crypto/rand.
func Random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return b, nil
}

// Valid reports whether token has exactly the form New makes, decoded
// strictly (no padding, no stray bits, no other alphabet), so a malformed
// value is refused before any database work.
func Valid(token string) bool {
	if len(token) != Len {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	return err == nil && len(b) == Bytes
}

// Hash is what is stored of token: its SHA-256 in hex. A leaked table
// cannot be replayed as tokens.
func Hash(token string) string { return HashIn("", token) }

// HashIn is the stored hash of s within domain (a prefix that keeps the
// hashes of one kind of secret apart from another's, e.g. device cookies
// from session cookies).
func HashIn(domain, s string) string {
	sum := sha256.Sum256([]byte(domain + s))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// ValidHash reports whether s has the form of a stored hash, so a value
// read back (from a session, a form) is never trusted blindly.
func ValidHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Equal compares two secrets (or their hashes) in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
