package passhash

// The hasher chain, like Django's PASSWORD_HASHERS: Gatehouse hashes every new
// password with argon2id (its own PHC string) and verifies, besides that, the
// formats a Django site stores, so users imported from Django keep their
// passwords. Anything but argon2id with the current parameters is reported as
// "rehash" by Verify, so the next successful login stores argon2id.
//
// Stored hashes can come from an import or a corrupt row, so every cost
// parameter they carry is bounded before any work is done: a hash asking for
// more than the limits below never matches and costs what a dummy
// verification costs, never more.

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Display names of the hash formats, as HashAlgorithm returns them.
const (
	AlgArgon2id      = "argon2id"
	AlgPBKDF2SHA256  = "pbkdf2_sha256"
	AlgPBKDF2SHA1    = "pbkdf2_sha1"
	AlgDjangoArgon2  = "argon2 (Django)"
	AlgBcryptSHA256  = "bcrypt_sha256"
	AlgBcrypt        = "bcrypt"
	AlgScrypt        = "scrypt"
	AlgUnusable      = "unusable"
	AlgUnknownFormat = "unknown"
)

// Limits on the cost parameters a stored hash may ask for: the most
// Django itself has ever produced (PBKDF2: Django 6.0's 1.2M iterations;
// bcrypt: 12 rounds, the only cost Django uses; scrypt: N=2^14 r=8 p=1,
// 16 MiB; argon2: m=100 MiB t=2 p=8, Django 3.2 on; Gatehouse's own
// argon2id is m=19 MiB t=2 p=1). A hash beyond them is no hash Django
// made: it is refused (never verified), so a hostile or corrupt row cannot
// make a login cost seconds and hundreds of MiB.
const (
	maxPBKDF2Iterations = 1_200_000
	maxBcryptCost       = 12
	maxScryptNr         = 1 << 17 // 128*N*r bytes: 16 MiB
	maxScryptNrp        = 1 << 17
	maxArgon2Memory     = 100 * 1024 // KiB
	maxArgon2Time       = 4
	maxArgon2MemoryTime = 200 * 1024 // KiB × passes
	maxArgon2Threads    = 8
	maxSaltLen          = 256
)

// ErrUnsupportedHash reports a stored hash Gatehouse cannot verify: an
// unknown format, a malformed one, or one whose parameters exceed the limits.
var ErrUnsupportedHash = errors.New("unsupported password hash")

// errUnusable marks Django's unusable passwords ("!…" or empty): valid to
// store, never matching.
var errUnusable = errors.New("unusable password")

// storedHash is a parsed stored hash: its algorithm and how to check a
// password against it. native is set for Gatehouse's own argon2id strings.
type storedHash struct {
	alg    string
	check  func(password string) bool
	native *HashParams
}

// HashAlgorithm names the format of a stored hash for display ("argon2id",
// "pbkdf2_sha256", "argon2 (Django)", "unusable", "unknown" …). It looks at
// the prefix only and never returns any part of the hash.
func HashAlgorithm(encoded string) string {
	switch {
	case encoded == "" || strings.HasPrefix(encoded, "!"):
		return AlgUnusable
	case strings.HasPrefix(encoded, "$argon2id$"):
		return AlgArgon2id
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		return AlgPBKDF2SHA256
	case strings.HasPrefix(encoded, "pbkdf2_sha1$"):
		return AlgPBKDF2SHA1
	case strings.HasPrefix(encoded, "argon2$"):
		return AlgDjangoArgon2
	case strings.HasPrefix(encoded, "bcrypt_sha256$"):
		return AlgBcryptSHA256
	case strings.HasPrefix(encoded, "bcrypt$"):
		return AlgBcrypt
	case strings.HasPrefix(encoded, "scrypt$"):
		return AlgScrypt
	}
	return AlgUnknownFormat
}

// IsLegacyHash reports whether encoded is a password hash in a format other
// than Gatehouse's own argon2id — a hash imported from Django that the
// user's next login upgrades. Unusable passwords are not legacy: there is
// nothing to upgrade. (Gatehouse's argon2id with older parameters is also
// upgraded on login, but it is not an import left to finish.)
func IsLegacyHash(encoded string) bool {
	alg := HashAlgorithm(encoded)
	return alg != AlgArgon2id && alg != AlgUnusable
}

// CheckStoredHash reports whether Gatehouse can verify encoded: nil for a
// supported format with parameters inside the limits and for an unusable
// password (which can be stored, and only ever reset), an error wrapping
// ErrUnsupportedHash otherwise. The error never quotes the hash.
func CheckStoredHash(encoded string) error {
	_, err := parseStoredHash(encoded)
	if errors.Is(err, errUnusable) {
		return nil
	}
	return err
}

func unsupported(alg, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupportedHash, alg, why)
}

// parseStoredHash recognises encoded and checks its parameters against the
// limits. It does no hashing.
func parseStoredHash(encoded string) (*storedHash, error) {
	alg := HashAlgorithm(encoded)
	switch alg {
	case AlgUnusable:
		return nil, errUnusable
	case AlgArgon2id:
		p, salt, key, err := decodePHC(encoded, "argon2id")
		if err != nil {
			return nil, unsupported(alg, err.Error())
		}
		return &storedHash{alg: alg, native: &p, check: argon2Check(argon2.IDKey, p, salt, key)}, nil
	case AlgDjangoArgon2:
		return parseDjangoArgon2(encoded)
	case AlgPBKDF2SHA256, AlgPBKDF2SHA1:
		return parsePBKDF2(alg, encoded)
	case AlgBcryptSHA256, AlgBcrypt:
		return parseBcrypt(alg, encoded)
	case AlgScrypt:
		return parseScrypt(encoded)
	}
	return nil, unsupported(alg, "not a format Gatehouse verifies")
}

type argon2Func func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

func argon2Check(f argon2Func, p HashParams, salt, key []byte) func(string) bool {
	return func(password string) bool {
		got := f([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	}
}

// parseDjangoArgon2 reads Django's Argon2PasswordHasher format: "argon2"
// followed by argon2-cffi's PHC string, "argon2$argon2id$v=19$m=…,t=…,p=…$
// salt$hash" (argon2i in Django before 3.0). Version 0x10 hashes (no "v=",
// from argon2-cffi before 16.0) are not supported by x/crypto/argon2.
func parseDjangoArgon2(encoded string) (*storedHash, error) {
	rest := strings.TrimPrefix(encoded, "argon2")
	variant := ""
	switch {
	case strings.HasPrefix(rest, "$argon2id$"):
		variant = "argon2id"
	case strings.HasPrefix(rest, "$argon2i$"):
		variant = "argon2i"
	default:
		return nil, unsupported(AlgDjangoArgon2, "only argon2id and argon2i are supported")
	}
	p, salt, key, err := decodePHC(rest, variant)
	if err != nil {
		return nil, unsupported(AlgDjangoArgon2, err.Error())
	}
	f := argon2.IDKey
	if variant == "argon2i" {
		f = argon2.Key
	}
	return &storedHash{alg: AlgDjangoArgon2, check: argon2Check(f, p, salt, key)}, nil
}

// decodePHC parses "$<variant>$v=19$m=..,t=..,p=..$salt$hash" (salt and hash
// in unpadded base64), rejecting parameters that would make verification
// itself a denial of service.
func decodePHC(s, variant string) (HashParams, []byte, []byte, error) {
	var p HashParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != variant {
		return p, nil, nil, errors.New("not a PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	m, err1 := paramUint(params[0], "m=", 32)
	t, err2 := paramUint(params[1], "t=", 32)
	th, err3 := paramUint(params[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	p.Memory, p.Time, p.Threads = uint32(m), uint32(t), uint8(th)
	if p.Time < 1 || p.Time > maxArgon2Time || p.Threads < 1 || p.Threads > maxArgon2Threads ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory || uint64(p.Memory)*uint64(p.Time) > maxArgon2MemoryTime {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("bad hash")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// paramUint reads "<prefix><decimal>" strictly: no sign, no spaces, no
// leading zeros beyond "0", fitting in bits.
func paramUint(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, errors.New("missing " + prefix)
	}
	return strictUint(v, bits)
}

func strictUint(v string, bits int) (uint64, error) {
	if v == "" || len(v) > 20 || (len(v) > 1 && v[0] == '0') {
		return 0, errors.New("bad number")
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
	}
	return strconv.ParseUint(v, 10, bits)
}

// parsePBKDF2 reads Django's "pbkdf2_sha256$<iterations>$<salt>$<base64
// hash>" (and pbkdf2_sha1): the salt is used as its UTF-8 bytes, the hash is
// the digest-sized key in padded base64.
func parsePBKDF2(alg, encoded string) (*storedHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return nil, unsupported(alg, "not <algorithm>$<iterations>$<salt>$<hash>")
	}
	iter, err := strictUint(parts[1], 32)
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
		return nil, unsupported(alg, "iterations out of range")
	}
	salt := parts[2]
	if salt == "" || len(salt) > maxSaltLen {
		return nil, unsupported(alg, "bad salt")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[3])
	size := sha256.Size
	if alg == AlgPBKDF2SHA1 {
		size = sha1.Size
	}
	if err != nil || len(key) != size {
		return nil, unsupported(alg, "bad hash")
	}
	check := func(password string) bool {
		var got []byte
		var err error
		if alg == AlgPBKDF2SHA1 {
			got, err = pbkdf2.Key(sha1.New, password, []byte(salt), int(iter), size)
		} else {
			got, err = pbkdf2.Key(sha256.New, password, []byte(salt), int(iter), size)
		}
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}
	return &storedHash{alg: alg, check: check}, nil
}

// parseBcrypt reads Django's "bcrypt_sha256$$2b$<cost>$…" (bcrypt over the
// hex SHA-256 of the password, so long passwords are not truncated) and
// "bcrypt$$2b$<cost>$…" (bcrypt over the password, which bcrypt truncates
// to 72 bytes, as Django's does).
func parseBcrypt(alg, encoded string) (*storedHash, error) {
	_, data, _ := strings.Cut(encoded, "$")
	if !strings.HasPrefix(data, "$2") {
		return nil, unsupported(alg, "not a bcrypt hash")
	}
	cost, err := bcrypt.Cost([]byte(data))
	if err != nil || len(data) != 60 {
		return nil, unsupported(alg, "malformed bcrypt hash")
	}
	if cost > maxBcryptCost {
		return nil, unsupported(alg, "cost out of range")
	}
	hashed := []byte(data)
	check := func(password string) bool {
		pw := []byte(password)
		if alg == AlgBcryptSHA256 {
			sum := sha256.Sum256(pw)
			pw = []byte(hex.EncodeToString(sum[:]))
		} else if len(pw) > 72 {
			pw = pw[:72]
		}
		// CompareHashAndPassword compares in constant time.
		return bcrypt.CompareHashAndPassword(hashed, pw) == nil
	}
	return &storedHash{alg: alg, check: check}, nil
}

// parseScrypt reads Django's ScryptPasswordHasher (Django 4.0+) format:
// "scrypt$<N>$<salt>$<r>$<p>$<base64 hash>", a 64-byte key in padded base64.
func parseScrypt(encoded string) (*storedHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return nil, unsupported(AlgScrypt, "not scrypt$<N>$<salt>$<r>$<p>$<hash>")
	}
	n, err1 := strictUint(parts[1], 32)
	r, err2 := strictUint(parts[3], 32)
	p, err3 := strictUint(parts[4], 32)
	if errors.Join(err1, err2, err3) != nil || n < 2 || n&(n-1) != 0 || r < 1 || p < 1 ||
		n*r > maxScryptNr || n*r*p > maxScryptNrp {
		return nil, unsupported(AlgScrypt, "parameters out of range")
	}
	salt := parts[2]
	if salt == "" || len(salt) > maxSaltLen {
		return nil, unsupported(AlgScrypt, "bad salt")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return nil, unsupported(AlgScrypt, "bad hash")
	}
	check := func(password string) bool {
		got, err := scrypt.Key([]byte(password), []byte(salt), int(n), int(r), int(p), len(key))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}
	return &storedHash{alg: AlgScrypt, check: check}, nil
}
