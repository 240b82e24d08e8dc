package main

import "runtime/debug"

// Garbage-collector defaults for the server. The live heap of a running
// Gatehouse is a few MB, so Go's default (collect when the heap doubles)
// collects every few hundred requests and the collector becomes one of the
// largest costs of a page view. Letting the heap grow to five times the live
// data before collecting cuts that cost by most of it for a few tens of MB;
// the soft memory limit makes the collector work harder again before the
// process gets anywhere near it (argon2id hashes take 19 MiB each), so a
// login flood cannot balloon the RSS. GOGC and GOMEMLIMIT in the environment
// override both, as for any Go program.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20
)

// tuneGC applies the defaults above where the environment sets nothing.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
