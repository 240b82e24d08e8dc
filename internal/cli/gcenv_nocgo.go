//go:build !cgo

package cli

import "os"

// processGetenv is os.Getenv. Without cgo nothing runs before the Go
// runtime, which itself stops on a malformed GOMEMLIMIT before main.
func processGetenv(k string) string { return os.Getenv(k) }
