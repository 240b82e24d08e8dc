package oidcop

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/internal/secret"
	"gatehouse/models"
)

// HKDF "info" labels of the keys the provider derives from SECRET_KEY: one
// per use, so a value made for one purpose never serves another.
const (
	infoSigningKey  = "gatehouse/v1/oidc-signing-key-at-rest"
	infoTokenCrypto = "gatehouse/v1/oidc-token-crypto"
	infoSubject     = "gatehouse/v1/oidc-subject"
	infoSessionID   = "gatehouse/v1/oidc-session-id"
)

// deriveKey is SECRET_KEY's key for one purpose.
func deriveKey(secretKey, info string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(secretKey), nil, info, 32)
}

// keySealer seals the private halves of signing keys (AES-256-GCM, the
// key's ID as additional data so a sealed key cannot be moved to another
// row).
type keySealer struct{ aead cipher.AEAD }

func newKeySealer(secretKey string) (*keySealer, error) {
	k, err := deriveKey(secretKey, infoSigningKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keySealer{aead: aead}, nil
}

func (s *keySealer) seal(plain []byte, kid string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(kid)))
}

// ErrKeysSealed: the stored signing keys were sealed under another
// SECRET_KEY than the one given — the key was changed, or a generated key
// file (DATABASE.secret-key) was lost and a new one made. The provider
// stays off rather than start over: new keys would work, but every
// account's sub (derived from SECRET_KEY too) would change, and the apps
// would take returning people for new ones.
var ErrKeysSealed = errors.New("the OpenID provider's signing keys were sealed with another SECRET_KEY")

func (s *keySealer) open(sealed, kid string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrKeysSealed
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(kid))
	if err != nil {
		return nil, ErrKeysSealed
	}
	return plain, nil
}

// KeyRetention is how long a retired signing key stays in the JWKS: longer
// than any token it signed lives (ID tokens: IDTokenLifetime), with room
// for relying parties' JWKS caches.
const KeyRetention = 24 * time.Hour

// keyReload is how often an instance re-reads the keys, so a rotation by
// the command line (another process) reaches every instance.
const keyReload = time.Minute

// signingKey is one key of the ring.
type signingKey struct {
	id   string
	priv *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a published key (op.Key).
type publicKey struct {
	id  string
	pub *rsa.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.pub }

// keyring holds the keys in memory, re-read every keyReload.
type keyring struct {
	db     *gorm.DB
	sealer *keySealer

	mu       sync.Mutex
	loadedAt time.Time
	signing  *signingKey
	public   []op.Key
	jwks     []byte // the JSON Web Key Set, marshalled once per load
}

// ensureKey makes the first signing key when there is none, so the JWKS is
// never empty. Two instances starting at once may both make one; both are
// published and the newest signs.
func ensureKey(db *gorm.DB, sealer *keySealer) error {
	var n int64
	if err := db.Model(&models.OIDCKey{}).Where("retired_at IS NULL").Count(&n).Error; err != nil {
		return fmt.Errorf("count oidc keys: %w", err)
	}
	if n > 0 {
		return nil
	}
	row, err := newKeyRow(sealer)
	if err != nil {
		return err
	}
	return db.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error
}

// newKeyRow generates an RSA-2048 key and seals its private half.
func newKeyRow(sealer *keySealer) (*models.OIDCKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate oidc key: %w", err)
	}
	kid, err := secret.New()
	if err != nil {
		return nil, err
	}
	kid = kid[:22]
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &models.OIDCKey{
		ID: kid, Algorithm: string(jose.RS256),
		PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		PrivateKey: sealer.seal(x509.MarshalPKCS1PrivateKey(priv), kid),
		CreatedAt:  time.Now().UTC(),
	}, nil
}

// RotateKeys retires the signing key(s) and makes a new one in one
// transaction; keys retired more than KeyRetention ago are deleted. It
// returns the new key's ID.
func RotateKeys(db *gorm.DB, secretKey string) (string, error) {
	sealer, err := newKeySealer(secretKey)
	if err != nil {
		return "", err
	}
	row, err := newKeyRow(sealer)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&models.OIDCKey{}).Where("retired_at IS NULL").Update("retired_at", now).Error; err != nil {
			return err
		}
		if err := tx.Where("retired_at < ?", now.Add(-KeyRetention)).Delete(&models.OIDCKey{}).Error; err != nil {
			return err
		}
		row.CreatedAt = now
		return tx.Create(row).Error
	})
	if err != nil {
		return "", fmt.Errorf("rotate oidc keys: %w", err)
	}
	return row.ID, nil
}

// load returns the keys, re-reading them when the last read is older
// than keyReload.
func (r *keyring) load() (*signingKey, []op.Key, []byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.signing != nil && time.Since(r.loadedAt) < keyReload {
		return r.signing, r.public, r.jwks, nil
	}
	rows, err := models.OIDCKeys(r.db)
	if err != nil {
		if r.signing != nil { // keep serving the keys we have
			return r.signing, r.public, r.jwks, nil
		}
		return nil, nil, nil, err
	}
	var signing *signingKey
	var public []op.Key
	var set jose.JSONWebKeySet
	cutoff := time.Now().Add(-KeyRetention)
	for _, row := range rows {
		if row.RetiredAt != nil && row.RetiredAt.Before(cutoff) {
			continue
		}
		block, _ := pem.Decode([]byte(row.PublicKey))
		if block == nil {
			continue
		}
		pk, err := x509.ParsePKIXPublicKey(block.Bytes)
		rsaPub, ok := pk.(*rsa.PublicKey)
		if err != nil || !ok {
			continue
		}
		public = append(public, &publicKey{id: row.ID, pub: rsaPub})
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: rsaPub, KeyID: row.ID, Algorithm: string(jose.RS256), Use: "sig"})
		if signing == nil && row.RetiredAt == nil {
			der, err := r.sealer.open(row.PrivateKey, row.ID)
			if err != nil {
				return nil, nil, nil, err
			}
			priv, err := x509.ParsePKCS1PrivateKey(der)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("parse oidc key: %w", err)
			}
			signing = &signingKey{id: row.ID, priv: priv}
		}
	}
	if signing == nil {
		return nil, nil, nil, errors.New("no oidc signing key (run gatehouse migrate or restart)")
	}
	jwks, err := jsonMarshal(set)
	if err != nil {
		return nil, nil, nil, err
	}
	r.signing, r.public, r.jwks, r.loadedAt = signing, public, jwks, time.Now()
	return signing, public, jwks, nil
}

// CheckKeys reports whether a provider over db could start with
// secretKey, without starting one or writing anything: nil when there is
// no signing key yet (the first start makes one) or the current one
// opens; ErrUnavailable when keys exist but secretKey is too short to
// open them; ErrKeysSealed when they were sealed under another key.
func CheckKeys(ctx context.Context, db *gorm.DB, secretKey string) error {
	var n int64
	if err := db.WithContext(ctx).Model(&models.OIDCKey{}).Where("retired_at IS NULL").Count(&n).Error; err != nil {
		return fmt.Errorf("count oidc keys: %w", err)
	}
	if n == 0 {
		return nil
	}
	if len(secretKey) < models.MinSecretKeyLen {
		return ErrUnavailable
	}
	sealer, err := newKeySealer(secretKey)
	if err != nil {
		return err
	}
	_, _, _, err = (&keyring{db: db.WithContext(ctx), sealer: sealer}).load()
	return err
}
