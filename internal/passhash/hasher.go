// Package passhash hashes and verifies passwords: argon2id for new hashes,
// Django's legacy formats checked with bounded costs, and a bounded pool of
// hashing slots.
package passhash

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"gatehouse/internal/dbdeadline"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// ErrBusy reports that no hashing slot became free within the queue timeout.
// Handlers answer 503 with Retry-After: a login flood queues, it never grows
// memory without bound.
var ErrBusy = errors.New("password hashing is saturated")

// HashParams are the argon2id cost parameters. They live in one place:
// change DefaultHashParams and every login with an older hash rehashes.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultHashParams are OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and verifies passwords with argon2id, allowing at most a fixed
// number of hashes in flight. Each hash holds Memory KiB, so the bound caps
// the memory a flood of logins can take.
type Hasher struct {
	params  HashParams
	slots   chan struct{}
	timeout time.Duration
	onWait  atomic.Pointer[func(time.Duration)] // see ObserveWait
	// legacy is a stored hash of the costliest legacy kind the database
	// holds (nil: none); see SetLegacyDummy.
	legacy   atomic.Pointer[storedHash]
	onVerify atomic.Pointer[func(alg string)] // see ObserveVerify
}

// ObserveVerify calls f with the algorithm of every verification the
// hasher runs, dummy ones included (tests count the work by kind).
func (h *Hasher) ObserveVerify(f func(alg string)) { h.onVerify.Store(&f) }

func (h *Hasher) verified(alg string) {
	if f := h.onVerify.Load(); f != nil {
		(*f)(alg)
	}
}

// SetLegacyDummy makes every verification also cost one check of encoded,
// a stored hash of the costliest legacy (Django) kind the database holds,
// unless the check was of that kind already; "" turns it off. With
// imported hashes in the table, an unknown username, a Gatehouse user and
// an imported user then cost the same work (one argon2id and one legacy
// check), so timing tells none of them apart.
func (h *Hasher) SetLegacyDummy(encoded string) {
	if encoded == "" {
		h.legacy.Store(nil)
		return
	}
	if sh, err := parseStoredHash(encoded); err == nil && sh.native == nil {
		h.legacy.Store(sh)
	}
}

// NewHasher returns a Hasher allowing concurrency hashes at once (at least 1;
// 0 means half of GOMAXPROCS, leaving CPU for other requests) and making
// callers wait at most queueTimeout for a slot.
func NewHasher(params HashParams, concurrency int, queueTimeout time.Duration) *Hasher {
	concurrency = Slots(concurrency)
	if queueTimeout <= 0 {
		queueTimeout = 3 * time.Second
	}
	return &Hasher{params: params, slots: make(chan struct{}, concurrency), timeout: queueTimeout}
}

// Slots returns how many hashes a Hasher made with concurrency runs at
// once: concurrency itself, or with 0 (automatic) half the cores Go uses,
// at least one.
func Slots(concurrency int) int {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0) / 2
	}
	return max(concurrency, 1)
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() HashParams { return h.params }

// SlotsInUse returns how many hashes are running now; Slots how many may.
func (h *Hasher) SlotsInUse() int { return len(h.slots) }

// Slots returns how many hashes may run at once.
func (h *Hasher) Slots() int { return cap(h.slots) }

// ObserveWait has f told how long each hash waited for a slot, including
// waits that gave up (for metrics). Call it before the hasher is used.
func (h *Hasher) ObserveWait(f func(time.Duration)) { h.onWait.Store(&f) }

func (h *Hasher) acquire(ctx context.Context) error {
	if f := h.onWait.Load(); f != nil {
		defer func(start time.Time) { (*f)(time.Since(start)) }(time.Now())
	}
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password under the current parameters.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	defer dbdeadline.Pause(ctx)() // hashing is not database work
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hashWith(h.params, password)
}

func hashWith(p HashParams, password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the stored hash encoded, and
// whether the hash should be recomputed: true for every format but argon2id
// (Django's PBKDF2, argon2, bcrypt and scrypt hashes, see hashers.go) and
// for argon2id with parameters other than the current ones. Unusable
// passwords, malformed hashes, unknown formats and hashes whose parameters
// exceed the limits never match and cost one dummy verification, so a broken
// row is neither a timing oracle nor a way to make verification expensive.
// Every verification holds one of the hasher's slots.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	sh, perr := parseStoredHash(encoded)
	if perr != nil {
		return false, false, h.VerifyDummy(ctx, password)
	}
	defer dbdeadline.Pause(ctx)() // hashing is not database work
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	ok = sh.check(password)
	h.verified(sh.alg)
	// The other half of the equal cost (SetLegacyDummy): a native hash
	// also pays the legacy check, a legacy one the argon2id.
	if sh.native != nil {
		h.legacyDummy(password)
	} else {
		h.argon2Dummy(password)
	}
	h.release()
	if p := sh.native; p != nil {
		rehash = p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads ||
			p.KeyLen != h.params.KeyLen || p.SaltLen != h.params.SaltLen
	} else {
		rehash = true
	}
	return ok, rehash, nil
}

// VerifyDummy spends the time of one verification under the current
// parameters, matching nothing, so an unknown username (or an unusable or
// broken stored hash) costs what a wrong password costs.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	defer dbdeadline.Pause(ctx)()
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	h.argon2Dummy(password)
	h.legacyDummy(password)
	return nil
}

// argon2Dummy spends one argon2id verification under the current
// parameters.
func (h *Hasher) argon2Dummy(password string) {
	p := h.params
	_ = argon2.IDKey([]byte(password), dummySalt[:], p.Time, p.Memory, p.Threads, p.KeyLen)
	h.verified(AlgArgon2id)
}

// legacyDummy spends one check of the legacy dummy, when one is set.
func (h *Hasher) legacyDummy(password string) {
	if sh := h.legacy.Load(); sh != nil {
		_ = sh.check(password)
		h.verified(sh.alg)
	}
}

// dummySalt is the salt of dummy verifications; the result is thrown away,
// so a fixed salt gives nothing away.
var dummySalt [16]byte

// PickLegacyDummy returns, of the stored hashes given, one of the most
// common legacy (Django) algorithm and cost parameters ("" when none is
// legacy): the hash SetLegacyDummy takes, so an unknown username costs what
// a typical imported user's wrong password costs.
func PickLegacyDummy(hashes []string) string {
	count := map[string]int{}
	example := map[string]string{}
	best := ""
	for _, enc := range hashes {
		sh, err := parseStoredHash(enc)
		if err != nil || sh.native != nil {
			continue
		}
		sig := legacySignature(enc)
		count[sig]++
		example[sig] = enc
		if best == "" || count[sig] > count[best] {
			best = sig
		}
	}
	return example[best]
}

// legacySignature is a legacy hash's algorithm and cost parameters (what
// decides its cost), without salt or digest.
func legacySignature(enc string) string {
	parts := strings.Split(enc, "$")
	switch {
	case strings.HasPrefix(enc, "pbkdf2_"), strings.HasPrefix(enc, "scrypt$"):
		if len(parts) > 4 && parts[0] == "scrypt" {
			return strings.Join([]string{parts[0], parts[1], parts[3], parts[4]}, "$")
		}
		if len(parts) > 1 {
			return parts[0] + "$" + parts[1]
		}
	case strings.HasPrefix(enc, "bcrypt"):
		if len(parts) > 3 {
			return parts[0] + "$" + parts[3]
		}
	case strings.HasPrefix(enc, "argon2$"):
		if len(parts) > 4 {
			return strings.Join(parts[:5], "$")
		}
	}
	return HashAlgorithm(enc)
}
