package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
)

// Sealer encrypts and authenticates small values (AES-256-GCM) under one
// key: what it seals is base64url(nonce ‖ ciphertext), bound to additional
// data, so a value sealed for one purpose, user or key ID does not open
// for another. It is the one sealing primitive: second-factor secrets and
// ceremony state, the OpenID provider's signing keys and its opaque tokens.
type Sealer struct{ aead cipher.AEAD }

// ErrSealed is any sealed value that does not open: malformed, too long,
// tampered with, sealed with other additional data or another key.
var ErrSealed = errors.New("sealed value does not open")

// MaxSealed bounds what Open looks at, before any work.
const MaxSealed = 8192

// NewSealer is a Sealer under key (32 bytes: AES-256).
func NewSealer(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// strict decodes only the canonical form (the last character's unused
// bits zero), so no two strings open to one value.
var strict = base64.RawURLEncoding.Strict()

// Seal seals plain under a fresh random nonce, bound to aad.
func (s *Sealer) Seal(plain, aad []byte) string {
	n := s.aead.NonceSize()
	buf := make([]byte, n, n+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(buf, buf[:n], plain, aad))
}

// Open reverses Seal; ErrSealed when sealed was not sealed by this key
// with this aad.
func (s *Sealer) Open(sealed string, aad []byte) ([]byte, error) {
	if len(sealed) > MaxSealed {
		return nil, ErrSealed
	}
	b, err := strict.DecodeString(sealed)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n+s.aead.Overhead() {
		return nil, ErrSealed
	}
	plain, err := s.aead.Open(b[n:n], b[:n], b[n:], aad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}
