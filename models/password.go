package models

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
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
	onWait  func(time.Duration) // see ObserveWait

	dummyOnce sync.Once
	dummy     string
}

// NewHasher returns a Hasher allowing concurrency hashes at once (at least 1;
// 0 means half of GOMAXPROCS, leaving CPU for other requests) and making
// callers wait at most queueTimeout for a slot.
func NewHasher(params HashParams, concurrency int, queueTimeout time.Duration) *Hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0) / 2
	}
	concurrency = max(concurrency, 1)
	if queueTimeout <= 0 {
		queueTimeout = 3 * time.Second
	}
	return &Hasher{params: params, slots: make(chan struct{}, concurrency), timeout: queueTimeout}
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() HashParams { return h.params }

// SlotsInUse returns how many hashes are running now; Slots how many may.
func (h *Hasher) SlotsInUse() int { return len(h.slots) }

// Slots returns how many hashes may run at once.
func (h *Hasher) Slots() int { return cap(h.slots) }

// ObserveWait has f told how long each hash waited for a slot, including
// waits that gave up (for metrics). Call it before the hasher is used.
func (h *Hasher) ObserveWait(f func(time.Duration)) { h.onWait = f }

func (h *Hasher) acquire(ctx context.Context) error {
	if h.onWait != nil {
		defer func(start time.Time) { h.onWait(time.Since(start)) }(time.Now())
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

// Verify reports whether password matches the PHC string encoded, and whether
// the hash should be recomputed because its parameters differ from the
// current ones. A malformed hash never matches.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, perr := decodePHC(encoded)
	if perr != nil {
		// Spend the same time as a real check so a broken row is not a
		// timing oracle, then refuse.
		_, _, err := h.Verify(ctx, password, h.dummyHash())
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	h.release()
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		uint32(len(key)) != h.params.KeyLen || uint32(len(salt)) != h.params.SaltLen
	return ok, rehash, nil
}

// VerifyDummy spends the time of one verification against a hash that no
// password matches, so an unknown username costs what a wrong password costs.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummyHash())
	return err
}

func (h *Hasher) dummyHash() string {
	h.dummyOnce.Do(func() {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		s, err := hashWith(h.params, base64.RawStdEncoding.EncodeToString(b))
		if err != nil {
			// crypto/rand does not fail on supported platforms; keep a
			// well-formed hash with the current parameters regardless.
			s = fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				h.params.Memory, h.params.Time, h.params.Threads)
		}
		h.dummy = s
	})
	return h.dummy
}

// decodePHC parses "$argon2id$v=19$m=..,t=..,p=..$salt$hash", rejecting
// parameters that would make verification itself a denial of service.
func decodePHC(s string) (HashParams, []byte, []byte, error) {
	var p HashParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 {
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
