package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The load generator is closed-loop: each of N workers owns one keep-alive
// TCP connection and sends its next request only when the previous response
// has been read in full. Concurrency is therefore exactly N requests in
// flight, which is what "32 connections" means, and latency is never hidden
// by a client that queues requests it cannot send (the coordinated-omission
// trap of a fixed-rate generator run past the server's capacity is avoided
// by not having a rate at all: throughput is the result, not the input).
//
// Requests are serialised once up front and written straight to the socket;
// responses are parsed with net/http's own http.ReadResponse. That keeps the
// client's CPU per request small, which matters on a 2-core machine where
// the generator and the server share the CPUs (like wrk, unlike a full
// http.Client with its per-connection goroutines).

// requestSet is a cycle of pre-serialised HTTP/1.1 requests one worker
// sends in turn (for example the same page with different session cookies).
type requestSet [][]byte

// rawRequest serialises a request for addr. Header values are written as
// given; body may be empty.
func rawRequest(method, addr, path string, headers [][2]string, body string) []byte {
	b := fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-bench\r\n", method, path, addr)
	for _, h := range headers {
		b = fmt.Appendf(b, "%s: %s\r\n", h[0], h[1])
	}
	if body != "" || method == http.MethodPost {
		b = fmt.Appendf(b, "Content-Length: %d\r\n", len(body))
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// group is a set of workers driving one kind of request.
type group struct {
	name  string
	conns int
	// deliberate503 marks the login form, whose 503 (hashing saturated,
	// Retry-After) is the designed answer to a flood, not a failure.
	deliberate503 bool
	// requests returns worker i's request cycle.
	requests func(worker int) requestSet
	// addrs, when set, spreads the workers over these servers (worker i
	// talks to addrs[i%len(addrs)]) instead of the scenario's one.
	addrs []string
}

// groupResult is what one group of workers measured.
type groupResult struct {
	Name        string         `json:"name"`
	Conns       int            `json:"connections"`
	Requests    int            `json:"requests"`
	Seconds     float64        `json:"seconds"`
	RPS         float64        `json:"requests_per_second"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	Maxms       float64        `json:"max_ms"`
	Status      map[string]int `json:"status_counts"`
	NetErrors   int            `json:"network_errors"`
	FirstErrors []string       `json:"first_errors,omitempty"`
}

// workerStats is one worker's record; merged after the run.
type workerStats struct {
	lat    []time.Duration
	status map[int]int
	errs   int
	first  []string
}

// groupStats accumulates one group's raw measurements over one or more
// runs (the rounds of a scenario).
type groupStats struct {
	name    string
	conns   int
	seconds float64
	lat     []time.Duration
	status  map[int]int
	errs    int
	first   []string
}

// runGroups runs every group at once for d and adds what each measured to
// acc (one entry per group, created on the first call). Requests still in
// flight at the deadline are not counted.
func runGroups(ctx context.Context, addr string, d time.Duration, acc []*groupStats, groups ...group) []*groupStats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stats := make([][]*workerStats, len(groups))
	var wg sync.WaitGroup
	start := time.Now()
	for gi, g := range groups {
		stats[gi] = make([]*workerStats, g.conns)
		for w := range g.conns {
			ws := &workerStats{status: map[int]int{}, lat: make([]time.Duration, 0, 1<<14)}
			stats[gi][w] = ws
			reqs := g.requests(w)
			// Workers start at different points of the cycle.
			offset := w * len(reqs) / g.conns
			to := addr
			if len(g.addrs) > 0 {
				to = g.addrs[w%len(g.addrs)]
			}
			wg.Go(func() { worker(ctx, to, reqs, offset, ws) })
		}
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	if acc == nil {
		for _, g := range groups {
			acc = append(acc, &groupStats{name: g.name, conns: g.conns, status: map[int]int{}})
		}
	}
	for gi := range groups {
		a := acc[gi]
		a.seconds += elapsed
		for _, ws := range stats[gi] {
			a.lat = append(a.lat, ws.lat...)
			for code, n := range ws.status {
				a.status[code] += n
			}
			a.errs += ws.errs
			for _, e := range ws.first {
				if len(a.first) < 5 {
					a.first = append(a.first, e)
				}
			}
		}
	}
	return acc
}

// result summarises the accumulated measurements.
func (a *groupStats) result() groupResult {
	r := groupResult{Name: a.name, Conns: a.conns, Seconds: a.seconds, Status: map[string]int{},
		NetErrors: a.errs, FirstErrors: a.first}
	for code, n := range a.status {
		r.Status[fmt.Sprint(code)] = n
	}
	all := slices.Clone(a.lat)
	slices.Sort(all)
	r.Requests = len(all)
	if a.seconds > 0 {
		r.RPS = float64(len(all)) / a.seconds
	}
	r.P50ms = ms(percentile(all, 0.50))
	r.P90ms = ms(percentile(all, 0.90))
	r.P99ms = ms(percentile(all, 0.99))
	if len(all) > 0 {
		r.Maxms = ms(all[len(all)-1])
	}
	return r
}

// percentile returns the q-quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// worker sends reqs in a cycle over one connection until ctx ends,
// reconnecting when the server closes it.
func worker(ctx context.Context, addr string, reqs requestSet, offset int, ws *workerStats) {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	deadline, _ := ctx.Deadline()
	fail := func(err error) {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return // cut off by the end of the run, not a failure
		}
		ws.errs++
		if len(ws.first) < 3 {
			ws.first = append(ws.first, err.Error())
		}
		if conn != nil {
			conn.Close()
			conn = nil
		}
		time.Sleep(10 * time.Millisecond) // do not spin on a refusing server
	}
	for i := offset; ctx.Err() == nil; i++ {
		if conn == nil {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				fail(err)
				continue
			}
			// A request stuck on the server must not hold the run open.
			if dl, ok := ctx.Deadline(); ok {
				_ = c.SetDeadline(dl)
			}
			conn, br = c, bufio.NewReaderSize(c, 32<<10)
		}
		req := reqs[i%len(reqs)]
		t0 := time.Now()
		if _, err := conn.Write(req); err != nil {
			fail(err)
			continue
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			fail(err)
			continue
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil {
			fail(err)
			continue
		}
		ws.lat = append(ws.lat, time.Since(t0))
		ws.status[res.StatusCode]++
		if res.Close {
			conn.Close()
			conn = nil
		}
	}
}
