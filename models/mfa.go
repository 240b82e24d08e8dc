package models

import "time"

// Kinds of authenticator.
const (
	FactorTOTP     = "totp"
	FactorRecovery = "recovery"
	FactorPasskey  = "webauthn"
)

// Authenticator is one second factor of a user: an authenticator app
// (its TOTP secret sealed with a key derived from SECRET_KEY), one recovery
// code (its SHA-256 only), or a passkey (its public key). The table is read
// only once a password is right, on the 2FA pages and by staff — never on
// the session hot path.
type Authenticator struct {
	ID     uint   `gorm:"primaryKey"`
	UserID uint   `gorm:"not null;index:idx_authenticators_user_kind,priority:1"`
	User   *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	Kind   string `gorm:"size:16;not null;index:idx_authenticators_user_kind,priority:2"`
	// Name is what the user called a passkey.
	Name string `gorm:"size:64;not null;default:''"`
	// Secret is the TOTP secret, sealed (AES-GCM, bound to the user).
	Secret string `gorm:"size:512;not null;default:''"`
	// CodeHash is the hex SHA-256 of a recovery code.
	CodeHash string `gorm:"size:64;not null;default:''"`
	// CredentialID (base64url) and Credential (the library's JSON record,
	// public key and sign count) describe a passkey.
	CredentialID string `gorm:"size:1400;not null;default:''"`
	Credential   string `gorm:"type:text;not null;default:''"`
	// LastUsedStep is the last TOTP time step accepted: a code of that step
	// or an earlier one is refused, so no code works twice.
	LastUsedStep int64 `gorm:"not null;default:0"`
	// UsedAt marks a recovery code as spent.
	UsedAt     *time.Time
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt *time.Time
}

func init() { allModels = append(allModels, &Authenticator{}) }

// MinSecretKeyLen is the shortest SECRET_KEY two-factor authentication
// accepts: keys are derived from it with HKDF, so it needs entropy, not a
// format.
const MinSecretKeyLen = 32
