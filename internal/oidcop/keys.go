package oidcop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// newKeySealer seals the private halves of signing keys, the key's ID as
// additional data so a sealed key cannot be moved to another row.
func newKeySealer(secretKey string) (*secret.Sealer, error) {
	k, err := deriveKey(secretKey, infoSigningKey)
	if err != nil {
		return nil, err
	}
	return secret.NewSealer(k)
}

// ErrKeysSealed: the stored signing keys were sealed under another
// SECRET_KEY than the one given — the key was changed, or a generated key
// file (DATABASE.secret-key) was lost and a new one made. The provider
// stays off rather than start over: new keys would work, but every
// account's sub (derived from SECRET_KEY too) would change, and the apps
// would take returning people for new ones.
var ErrKeysSealed = errors.New("the OpenID provider's signing keys were sealed with another SECRET_KEY")

// KeyRetention is how long a retired signing key stays in the JWKS: longer
// than any token it signed lives (ID tokens: IDTokenLifetime), with room
// for relying parties' JWKS caches.
const KeyRetention = 24 * time.Hour

// keyReload is how often an instance re-reads the keys, so a rotation by
// the command line (another process) reaches every instance.
const keyReload = time.Minute

// Algorithms are the ID token signing algorithms: every site has a live
// key of each. RS256 is the default (every relying party supports it); a
// client may ask for ES256 (id_token_signed_response_alg).
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// signingKey is one key of the ring.
type signingKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a published key (op.Key).
type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	pub any
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.pub }

// keyset is one load of the keys: the signing key of each algorithm, the
// published keys and the JSON Web Key Set, marshalled once.
type keyset struct {
	signing map[jose.SignatureAlgorithm]*signingKey
	public  []op.Key
	jwks    []byte
}

// signer is the signing key for alg; RS256's when there is none for alg.
func (ks *keyset) signer(alg jose.SignatureAlgorithm) *signingKey {
	if k := ks.signing[alg]; k != nil {
		return k
	}
	return ks.signing[jose.RS256]
}

// keyring holds the keys in memory, re-read every keyReload.
type keyring struct {
	db     *gorm.DB
	sealer *secret.Sealer

	mu       sync.Mutex
	loadedAt time.Time
	keys     *keyset
}

// ensureKey makes the first signing key of each algorithm when there is
// none, so the JWKS is never empty and a site from before ES256 gets its
// ES256 key on its next start. Two instances starting at once may both
// make one; both are published and the newest signs.
func ensureKey(db *gorm.DB, sealer *secret.Sealer) error {
	for _, alg := range Algorithms {
		var n int64
		if err := db.Model(&models.OIDCKey{}).Where("retired_at IS NULL AND algorithm = ?", string(alg)).Count(&n).Error; err != nil {
			return fmt.Errorf("count oidc keys: %w", err)
		}
		if n > 0 {
			continue
		}
		row, err := newKeyRow(sealer, alg)
		if err != nil {
			return err
		}
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
			return err
		}
	}
	return nil
}

// newKeyRow generates a key for alg — RSA-2048 (PKCS #1) or P-256 (SEC 1)
// — and seals its private half.
func newKeyRow(sealer *secret.Sealer, alg jose.SignatureAlgorithm) (*models.OIDCKey, error) {
	var priv crypto.Signer
	var der []byte
	switch alg {
	case jose.RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate oidc key: %w", err)
		}
		priv, der = k, x509.MarshalPKCS1PrivateKey(k)
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate oidc key: %w", err)
		}
		if der, err = x509.MarshalECPrivateKey(k); err != nil {
			return nil, err
		}
		priv = k
	default:
		return nil, fmt.Errorf("oidc key: unsupported algorithm %s", alg)
	}
	kid, err := secret.New()
	if err != nil {
		return nil, err
	}
	kid = kid[:22]
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	return &models.OIDCKey{
		ID: kid, Algorithm: string(alg),
		PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		PrivateKey: sealer.Seal(der, []byte(kid)),
		CreatedAt:  time.Now().UTC(),
	}, nil
}

// parsePrivate opens a stored private key of alg.
func parsePrivate(alg jose.SignatureAlgorithm, der []byte) (crypto.Signer, error) {
	switch alg {
	case jose.RS256:
		return x509.ParsePKCS1PrivateKey(der)
	case jose.ES256:
		return x509.ParseECPrivateKey(der)
	}
	return nil, fmt.Errorf("unsupported algorithm %s", alg)
}

// RotateKeys retires the signing keys and makes a new one of each
// algorithm in one transaction; keys retired more than KeyRetention ago
// are deleted. It returns the new keys' IDs (RS256's first).
func RotateKeys(db *gorm.DB, secretKey string) ([]string, error) {
	sealer, err := newKeySealer(secretKey)
	if err != nil {
		return nil, err
	}
	var rows []*models.OIDCKey
	for _, alg := range Algorithms {
		row, err := newKeyRow(sealer, alg)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	now := time.Now().UTC()
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&models.OIDCKey{}).Where("retired_at IS NULL").Update("retired_at", now).Error; err != nil {
			return err
		}
		if err := tx.Where("retired_at < ?", now.Add(-KeyRetention)).Delete(&models.OIDCKey{}).Error; err != nil {
			return err
		}
		for _, row := range rows {
			row.CreatedAt = now
		}
		return tx.Create(rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("rotate oidc keys: %w", err)
	}
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	return ids, nil
}

// load returns the keys, re-reading them when the last read is older
// than keyReload.
func (r *keyring) load() (*keyset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys != nil && time.Since(r.loadedAt) < keyReload {
		return r.keys, nil
	}
	rows, err := models.OIDCKeys(r.db)
	if err != nil {
		if r.keys != nil { // keep serving the keys we have
			return r.keys, nil
		}
		return nil, err
	}
	ks := &keyset{signing: map[jose.SignatureAlgorithm]*signingKey{}}
	var set jose.JSONWebKeySet
	cutoff := time.Now().Add(-KeyRetention)
	for _, row := range rows {
		if row.RetiredAt != nil && row.RetiredAt.Before(cutoff) {
			continue
		}
		alg := jose.SignatureAlgorithm(row.Algorithm)
		block, _ := pem.Decode([]byte(row.PublicKey))
		if block == nil {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		switch pub.(type) {
		case *rsa.PublicKey:
			if alg != jose.RS256 {
				continue
			}
		case *ecdsa.PublicKey:
			if alg != jose.ES256 {
				continue
			}
		default:
			continue
		}
		ks.public = append(ks.public, &publicKey{id: row.ID, alg: alg, pub: pub})
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: row.ID, Algorithm: string(alg), Use: "sig"})
		if ks.signing[alg] == nil && row.RetiredAt == nil {
			der, err := r.sealer.Open(row.PrivateKey, []byte(row.ID))
			if err != nil {
				return nil, ErrKeysSealed
			}
			priv, err := parsePrivate(alg, der)
			if err != nil {
				return nil, fmt.Errorf("parse oidc key: %w", err)
			}
			ks.signing[alg] = &signingKey{id: row.ID, alg: alg, priv: priv}
		}
	}
	if ks.signing[jose.RS256] == nil {
		return nil, errors.New("no oidc signing key (run gatehouse migrate or restart)")
	}
	// RS256 keys first (a relying party that takes the first key it
	// sees gets the default algorithm's), newest first within each.
	rank := func(alg string) int { return slices.Index(Algorithms, jose.SignatureAlgorithm(alg)) }
	slices.SortStableFunc(ks.public, func(a, b op.Key) int { return rank(string(a.Algorithm())) - rank(string(b.Algorithm())) })
	slices.SortStableFunc(set.Keys, func(a, b jose.JSONWebKey) int { return rank(a.Algorithm) - rank(b.Algorithm) })
	if ks.jwks, err = jsonMarshal(set); err != nil {
		return nil, err
	}
	r.keys, r.loadedAt = ks, time.Now()
	return ks, nil
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
	_, err = (&keyring{db: db.WithContext(ctx), sealer: sealer}).load()
	return err
}

// The ID token's algorithm is the client's (id_token_signed_response_alg),
// but op asks the storage for a signing key with the request's context
// alone. So each request op serves carries a note (withClientAlg) that
// GetClientByClientID fills when op looks the client up — always before
// op signs anything for it — and SigningKey reads.
type clientAlgKey struct{}

type clientAlgNote struct{ alg jose.SignatureAlgorithm }

func withClientAlg(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clientAlgKey{}, &clientAlgNote{}))
}

func noteClientAlg(ctx context.Context, alg string) {
	if n, ok := ctx.Value(clientAlgKey{}).(*clientAlgNote); ok {
		n.alg = jose.SignatureAlgorithm(alg)
	}
}

// clientAlgOf is the noted algorithm (RS256 without a note).
func clientAlgOf(ctx context.Context) jose.SignatureAlgorithm {
	if n, ok := ctx.Value(clientAlgKey{}).(*clientAlgNote); ok && n.alg != "" {
		return n.alg
	}
	return jose.RS256
}
