package cli

import (
	"errors"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"gatehouse/internal/passhash"
)

// Garbage-collector defaults for the server. The live heap of a running
// Gatehouse is a few MB, so Go's default (collect when the heap doubles)
// collects every few hundred requests and the collector becomes one of the
// largest costs of a page view. Letting the heap grow to five times the live
// data before collecting cuts that cost by most of it for a few tens of MB.
// The soft memory limit makes the collector work harder again before the
// process gets anywhere near it: a login flood hashes without pause, each
// argon2id hash leaves its memory (19 MiB) behind as garbage, and with
// GOGC=400 alone the heap would grow to five times what the hashes and the
// waiting connections hold. The limit is a base for everything else plus
// twice the memory of the hashes that may run at once (HASH_CONCURRENCY):
// 166 MiB with one slot (two cores), so the RSS under a 500-connection flood,
// the executable's pages included, stays under 250 MB (bench scenario
// 6.500); more slots raise it, so the collector never runs without pause
// below the memory the hashes need. GOGC and GOMEMLIMIT in the environment
// override both, as for any Go program, and are checked like every other
// variable (loadServerConfig).
const (
	defaultGCPercent = 400
	memoryLimitBase  = 128 << 20
)

// defaultMemoryLimit is the soft memory limit for slots hashes of
// hashKiB KiB each running at once.
func defaultMemoryLimit(slots int, hashKiB uint32) int64 {
	return memoryLimitBase + 2*int64(slots)*int64(hashKiB)<<10
}

// tuneGC applies GOGC and GOMEMLIMIT as loaded, or the defaults above.
func tuneGC(cfg config) {
	gc := defaultGCPercent
	limit := defaultMemoryLimit(passhash.Slots(cfg.HashConcurrency), passhash.DefaultHashParams.Memory)
	if cfg.GCPercent != nil {
		gc = *cfg.GCPercent
	}
	if cfg.MemoryLimit != nil {
		limit = *cfg.MemoryLimit
	}
	debug.SetGCPercent(gc)
	debug.SetMemoryLimit(limit)
}

// parseGOGC accepts what the Go runtime accepts: "off" or a whole number
// (negative also means off). The runtime silently falls back to 100 on
// anything else; Gatehouse reports it instead.
func parseGOGC(s string) (int, error) {
	if s == "off" {
		return -1, nil
	}
	if strings.HasPrefix(s, "+") {
		return 0, errors.New("sign")
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return -1, nil
	}
	return int(n), nil
}

// parseGOMEMLIMIT accepts what the Go runtime accepts (see
// runtime/debug.SetMemoryLimit): "off", or a byte count with an optional
// unit B, KiB, MiB, GiB or TiB, no spaces, no sign.
func parseGOMEMLIMIT(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	num, mult := s, uint64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if rest, ok := strings.CutSuffix(s, unit); ok {
			num, mult = rest, 1<<(10*(i+1))
			break
		}
	}
	if mult == 1 {
		num = strings.TrimSuffix(s, "B")
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, errors.New("not a byte count")
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errors.New("out of range")
	}
	return int64(n * mult), nil
}

// applyGOMEMLIMIT applies a well-formed GOMEMLIMIT at start, for every
// command, as the runtime would have (it never sees the variable in cgo
// builds; see gcenv_cgo.go). A malformed one is reported by the server's
// configuration check and ignored elsewhere.
func applyGOMEMLIMIT(getenv func(string) string) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		if n, err := parseGOMEMLIMIT(v); err == nil {
			debug.SetMemoryLimit(n)
		}
	}
}
