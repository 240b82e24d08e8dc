package cli

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeMetricsListener: with METRICS_ADDR set, /metrics answers on that
// address (with the app's request counts) and not on the public one.
func TestServeMetricsListener(t *testing.T) {
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "m.db"), "ADDR": "127.0.0.1:0",
		"METRICS_ADDR": "127.0.0.1:0", "HASH_CONCURRENCY": "1"}
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncWriter{}, &syncWriter{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envMap(env), strings.NewReader(""), out, logs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	pub := regexp.MustCompile(`listening on (http://\S+)/`)
	met := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	var base, maddr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && base == ""; time.Sleep(20 * time.Millisecond) {
		if m := pub.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if m := met.FindStringSubmatch(logs.String()); m != nil {
		maddr = m[1]
	}
	if base == "" || maddr == "" {
		t.Fatalf("server did not start with metrics: %s %s", out.String(), logs.String())
	}
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(base + "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics: got %d, want 404", code)
	}
	code, body := get("http://" + maddr + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, `gatehouse_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1`) {
		t.Errorf("metrics listener: got %d, want the healthz request counted:\n%.3000s", code, body)
	}
}
