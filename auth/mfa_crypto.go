package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"gatehouse/models"
)

// ErrMFAUnavailable means SECRET_KEY is not set (or too short), so the
// secrets of authenticator apps cannot be sealed or opened.
var ErrMFAUnavailable = errors.New("two-factor authentication needs SECRET_KEY (at least 32 characters)")

// HKDF "info" labels: one key per use, so a value sealed for one purpose
// never opens as another.
const (
	infoTOTPAtRest  = "gatehouse/v1/totp-secret-at-rest"
	infoSetupState  = "gatehouse/v1/totp-setup-state"
	infoCeremony    = "gatehouse/v1/webauthn-ceremony"
	infoUserHandle  = "gatehouse/v1/webauthn-user-handle"
	sealedNonceSize = 12
)

// sealer encrypts and authenticates small values with AES-256-GCM under a
// key derived from SECRET_KEY for one purpose.
type sealer struct{ aead cipher.AEAD }

// mfaKeys are the keys derived from SECRET_KEY.
type mfaKeys struct {
	atRest, setup, ceremony *sealer
	userHandle              []byte // HMAC key for passkey user handles
}

// newMFAKeys derives the keys from secret; nil when secret is too short.
func newMFAKeys(secret string) (*mfaKeys, error) {
	if len(secret) < models.MinSecretKeyLen {
		return nil, nil
	}
	k := &mfaKeys{}
	var err error
	for _, s := range []struct {
		out  **sealer
		info string
	}{{&k.atRest, infoTOTPAtRest}, {&k.setup, infoSetupState}, {&k.ceremony, infoCeremony}} {
		if *s.out, err = newSealer(secret, s.info); err != nil {
			return nil, err
		}
	}
	if k.userHandle, err = hkdf.Key(sha256.New, []byte(secret), nil, infoUserHandle, 32); err != nil {
		return nil, err
	}
	return k, nil
}

func newSealer(secret, info string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns base64url(nonce || ciphertext) of plain, bound to aad.
func (s *sealer) seal(plain, aad []byte) string {
	nonce := make([]byte, sealedNonceSize)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, aad))
}

// errSealed is any sealed value that does not open: malformed, tampered
// with, sealed for another purpose, user or under another key.
var errSealed = errors.New("sealed value does not open")

// open reverses seal; errSealed when the value was not sealed by this key
// with this aad.
func (s *sealer) open(sealed string, aad []byte) ([]byte, error) {
	if len(sealed) > 8192 {
		return nil, errSealed
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < sealedNonceSize+s.aead.Overhead() {
		return nil, errSealed
	}
	plain, err := s.aead.Open(nil, b[:sealedNonceSize], b[sealedNonceSize:], aad)
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}
