package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// floodResult is what a login flood did: the statuses answered, the
// slowest 503 and the slowest page read meanwhile, the heap's peak growth,
// and anything that went wrong.
type floodResult struct {
	statuses    map[int]int
	total       time.Duration
	slow503     time.Duration
	slowestRead time.Duration
	heapGrowth  int64
	problems    []string
	readerErr   any
}

// runLoginFlood sends hundreds of concurrent wrong-password logins to a
// server allowed one hash at a time with a short queue, while a reader
// loads the home page again and again.
// newFloodServer is the server runLoginFlood floods: one hash at a time,
// a short queue, no login limits.
func newFloodServer(t testing.TB) *testServer {
	t.Helper()
	const (
		queueTimeout = 50 * time.Millisecond
		hashMemory   = 8 * 1024 // KiB per hash
	)
	params := passhash.HashParams{Memory: hashMemory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	ts := newTestServerWith(t, testSetup{hasher: passhash.NewHasher(params, 1, queueTimeout)}, func(c *Config) {
		// Distinct usernames from one address would trip the per-IP limit
		// and hide what this test is about.
		c.LoginLimitPerUserIP = models.Limit{Max: -1}
		c.LoginLimitPerIP = models.Limit{Max: -1}
	})
	ts.createUser(t, "victim", "victim@example.com", "correct horse battery")
	return ts
}

func runLoginFlood(t testing.TB, ts *testServer) floodResult {
	t.Helper()
	const flood = 300
	// Warm up templates and pools.
	if res, err := http.Get(ts.URL + "/"); err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var m runtime.MemStats
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	})

	// Meanwhile a reader loads the home page again and again.
	stopReader := make(chan struct{})
	var reader sync.WaitGroup
	var slowest atomic.Int64
	var readerErr atomic.Value
	reader.Go(func() {
		c := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-stopReader:
				return
			default:
			}
			start := time.Now()
			res, err := c.Get(ts.URL + "/")
			if err != nil {
				readerErr.Store(err.Error())
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				readerErr.Store(fmt.Sprintf("GET / got status %d during the flood", res.StatusCode))
			}
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	transport := &http.Transport{MaxIdleConnsPerHost: flood}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		slow503  time.Duration
		problems []string
	)
	var wg sync.WaitGroup
	start := make(chan struct{})
	began := time.Now()
	for i := range flood {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			form := url.Values{"username": {fmt.Sprintf("victim%d", i%50)}, "password": {"wrong password"}}
			if i%3 == 0 {
				form.Set("username", "victim")
			}
			res, err := client.PostForm(ts.URL+"/accounts/login/", form)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				problems = append(problems, err.Error())
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusServiceUnavailable {
				slow503 = max(slow503, took)
				if res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many sign-ins") {
					problems = append(problems, "503 without Retry-After or the busy message")
				}
			}
		})
	}
	close(start)
	wg.Wait()
	total := time.Since(began)
	close(stopReader)
	reader.Wait()
	close(stopSampling)
	sampler.Wait()

	return floodResult{statuses: statuses, total: total, slow503: slow503, slowestRead: time.Duration(slowest.Load()),
		heapGrowth: int64(peak.Load()) - int64(base.HeapAlloc), problems: problems, readerErr: readerErr.Load()}
}

// TestLoginFlood: under a flood of logins, memory stays bounded (each
// argon2id hash holds its whole memory cost, so unbounded hashing would
// take hashes-in-flight × 8 MiB), logins the hash queue cannot take in
// time get 503 with Retry-After, and other pages keep answering. How fast
// the 503s and the pages come is BenchmarkLoginFlood's to say: wall-clock
// bounds here would fail on a loaded machine, not on a defect.
func TestLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	r := runLoginFlood(t, newFloodServer(t))
	t.Logf("statuses %v in %v; slowest 503 %v; slowest GET / %v; peak heap growth %d MiB",
		r.statuses, r.total, r.slow503, r.slowestRead, r.heapGrowth>>20)
	if len(r.problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(r.problems), r.problems[0])
	}
	if r.readerErr != nil {
		t.Fatalf("reader: %v", r.readerErr)
	}
	// Generous bounds: one 8 MiB hash in flight plus the requests' own
	// buffers is a few MiB; unbounded hashing needs hundreds.
	if limit := int64(96 << 20); r.heapGrowth > limit {
		t.Fatalf("heap grew by %d MiB during the flood, want under %d MiB", r.heapGrowth>>20, limit>>20)
	}
	for status, n := range r.statuses {
		if status != http.StatusUnprocessableEntity && status != http.StatusServiceUnavailable {
			t.Fatalf("got %d responses with status %d, want only 422 and 503", n, status)
		}
	}
	if r.statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatal("got no 503: the hash queue never turned anyone away")
	}
}

// BenchmarkLoginFlood times a login flood (go test -bench LoginFlood
// ./handlers): the slowest 503 (the queue turns logins away after 50 ms,
// so this stays far below a second unless requests pile up) and the
// slowest page read meanwhile (a few ms on a quiet machine) are reported
// as metrics.
func BenchmarkLoginFlood(b *testing.B) {
	var slow503, slowRead time.Duration
	// One server for every round: a server per round would keep every
	// round's connection pool open until the benchmark ends.
	ts := newFloodServer(b)
	for b.Loop() {
		r := runLoginFlood(b, ts)
		if len(r.problems) > 0 || r.readerErr != nil {
			b.Fatalf("flood: problems %v, reader %v", r.problems, r.readerErr)
		}
		slow503, slowRead = max(slow503, r.slow503), max(slowRead, r.slowestRead)
	}
	b.ReportMetric(float64(slow503.Milliseconds()), "slowest-503-ms")
	b.ReportMetric(float64(slowRead.Milliseconds()), "slowest-page-ms")
}
