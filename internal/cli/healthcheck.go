package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"gatehouse/internal/route"
)

// healthcheckCmd asks the server running on this host whether it is ready:
// a GET of ADDR's /readyz. It exists for container HEALTHCHECKs: the
// image has no shell, curl or wget, and the binary cannot probe itself
// otherwise. Success is a 200 within the timeout; anything else (refused,
// a 503 from a database that cannot be written, a hang) is an error, so
// the exit status is 1.
func healthcheckCmd(fs *flag.FlagSet) runFunc {
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long (e.g. 3s)")
	return func(ctx context.Context, e *env, _ []string) error {
		if *timeout <= 0 {
			return &usageError{cmd: "healthcheck", err: fmt.Errorf("healthcheck: --timeout %s is not a positive duration such as 3s", *timeout)}
		}
		addr := envReader(e.getenv).get("ADDR", ":8080")
		u, err := readyURL(addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("healthcheck: %s: %w", u, err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("healthcheck: %s answered %s, want 200 OK", u, res.Status)
		}
		fmt.Fprintf(e.stdout, "ready: %s\n", u)
		return nil
	}
}

// readyURL is the readiness URL of a server listening on addr, reached
// from the same host: a wildcard or empty host is asked on loopback.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("ADDR: %q is not host:port with a fixed port (e.g. :8080)", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + route.URL(route.Readyz), nil
}
