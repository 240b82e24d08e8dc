package oidcop

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// tokenCrypto is op's Crypto for what op hands out opaque: access tokens
// (op encrypts "tokenID:subject") and authorization codes (the request's
// ID). It is AES-256-GCM like op's default, with the cipher built once
// and a compact form — base64url(nonce ‖ sealed) — instead of op's JWE,
// whose JSON header is parsed and whose key is unwrapped and its cipher
// built again on every userinfo request (a third of that endpoint's CPU).
// GCM authenticates: a token changed by one bit, or made without the key,
// does not open. The additional data ties the value to its use here.
//
// Values op's own JWE form made (a Gatehouse from before this change, up
// to AccessTokenLifetime ago) still open through legacy, so an upgrade
// does not cut off the access tokens in flight.
type tokenCrypto struct {
	aead   cipher.AEAD
	legacy op.Crypto
}

// tokenAD is the additional data every value is sealed with.
var tokenAD = []byte("gatehouse/v1/oidc-opaque-token")

// maxOpaqueToken bounds what Decrypt looks at: our values are under 200
// characters; anything longer is refused before any work.
const maxOpaqueToken = 1024

func newTokenCrypto(key []byte) (*tokenCrypto, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	copy(k[:], key)
	return &tokenCrypto{aead: aead, legacy: op.NewAES256GCMCrypto(k, "")}, nil
}

var errBadToken = errors.New("invalid token")

// Encrypt seals s under a fresh random nonce.
func (c *tokenCrypto) Encrypt(s string) (string, error) {
	n := c.aead.NonceSize()
	buf := make([]byte, n, n+len(s)+c.aead.Overhead())
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(buf, buf[:n], []byte(s), tokenAD)), nil
}

// Decrypt opens a value Encrypt made (or op's JWE form, see legacy).
func (c *tokenCrypto) Decrypt(s string) (string, error) {
	if len(s) > maxOpaqueToken {
		return "", errBadToken
	}
	if strings.Count(s, ".") == 4 { // JWE compact serialisation: op's form
		return c.legacy.Decrypt(s)
	}
	var raw [maxOpaqueToken]byte
	m, err := strictBase64.Decode(raw[:], []byte(s))
	n := c.aead.NonceSize()
	if err != nil || m < n+c.aead.Overhead() {
		return "", errBadToken
	}
	plain, err := c.aead.Open(nil, raw[:n], raw[n:m], tokenAD)
	if err != nil {
		return "", errBadToken
	}
	return string(plain), nil
}

// strictBase64 decodes only the canonical form: the unused low bits of
// the last character must be zero, so no two strings open to one token
// (a token changed in its last character would otherwise still open).
var strictBase64 = base64.RawURLEncoding.Strict()
