package cli

import (
	"errors"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// Garbage-collector defaults for the server. The live heap of a running
// Gatehouse is a few MB, so Go's default (collect when the heap doubles)
// collects every few hundred requests and the collector becomes one of the
// largest costs of a page view. Letting the heap grow to five times the live
// data before collecting cuts that cost by most of it for a few tens of MB;
// the soft memory limit makes the collector work harder again before the
// process gets anywhere near it (argon2id hashes take 19 MiB each), so a
// login flood cannot balloon the RSS. GOGC and GOMEMLIMIT in the environment
// override both, as for any Go program, and are checked like every other
// variable (loadServerConfig).
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20
)

// tuneGC applies GOGC and GOMEMLIMIT as loaded, or the defaults above.
func tuneGC(cfg config) {
	gc, limit := defaultGCPercent, int64(defaultMemoryLimit)
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
