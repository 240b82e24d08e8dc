package auth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"gatehouse/internal/secret"
	"gatehouse/models"
)

// ErrMFAUnavailable means SECRET_KEY is not set (or too short), so the
// secrets of authenticator apps cannot be sealed or opened.
var ErrMFAUnavailable = errors.New("two-factor authentication needs SECRET_KEY (at least 32 characters)")

// HKDF "info" labels: one key per use, so a value sealed for one purpose
// never opens as another.
const (
	infoTOTPAtRest = "gatehouse/v1/totp-secret-at-rest"
	infoSetupState = "gatehouse/v1/totp-setup-state"
	infoCeremony   = "gatehouse/v1/webauthn-ceremony"
	infoUserHandle = "gatehouse/v1/webauthn-user-handle"
)

// mfaKeys are the keys derived from SECRET_KEY.
type mfaKeys struct {
	atRest, setup, ceremony *secret.Sealer
	userHandle              []byte // HMAC key for passkey user handles
}

// newMFAKeys derives the keys from secret; nil when secret is too short.
func newMFAKeys(secretKey string) (*mfaKeys, error) {
	if len(secretKey) < models.MinSecretKeyLen {
		return nil, nil
	}
	k := &mfaKeys{}
	var err error
	for _, s := range []struct {
		out  **secret.Sealer
		info string
	}{{&k.atRest, infoTOTPAtRest}, {&k.setup, infoSetupState}, {&k.ceremony, infoCeremony}} {
		if *s.out, err = newSealer(secretKey, s.info); err != nil {
			return nil, err
		}
	}
	if k.userHandle, err = hkdf.Key(sha256.New, []byte(secretKey), nil, infoUserHandle, 32); err != nil {
		return nil, err
	}
	return k, nil
}

// newSealer is a Sealer under the key derived from secretKey for info.
func newSealer(secretKey, info string) (*secret.Sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secretKey), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	return secret.NewSealer(key)
}
