//go:build pprof

package cli

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// A profiling build (go build -tags pprof) serves net/http/pprof on the
// loopback address in GATEHOUSE_PPROF_ADDR, for `task bench -- -profile`.
// It is a separate listener, never the app's router, and normal builds do
// not contain it at all.
func init() {
	addr := os.Getenv("GATEHOUSE_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "gatehouse: GATEHOUSE_PPROF_ADDR %q is not a loopback host:port; pprof not started\n", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse: pprof listener:", err)
		}
	}()
}
