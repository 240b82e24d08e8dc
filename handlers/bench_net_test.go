package handlers

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/metrics"
)

// The network benchmarks: the same requests over a real loopback TCP
// connection to a real http.Server, so what net/http does per request
// (reading the request, its deadlines, writing the header map) counts
// too. The client is a raw keep-alive connection that reads the response
// with a few byte scans, so most of the CPU is the server's:
// go test -run '^$' -bench 'Net' -benchmem ./handlers

// productionTimeouts gives srv the timeouts serve (internal/cli) sets.
func productionTimeouts(srv *http.Server) {
	srv.ReadHeaderTimeout = 5 * time.Second
	srv.ReadTimeout = 15 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.IdleTimeout = 2 * time.Minute
	srv.MaxHeaderBytes = 64 << 10
}

// netLoop serves h on a loopback listener and sends it GET path b.N
// times on one keep-alive connection, checking each status and, once,
// that the body contains want.
func netLoop(b *testing.B, h http.Handler, server func(*http.Server), path string, want string) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if server != nil {
		server(srv)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReaderSize(conn, 16<<10)
	var body []byte
	roundTrip := func() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		status, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
			b.Fatalf("%s: got status line %q, want 200", path, status)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n < 0 {
			b.Fatalf("%s: no Content-Length", path)
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip()
	if !bytes.Contains(body, []byte(want)) {
		b.Fatalf("%s: body %q does not contain %q", path, body, want)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		roundTrip()
	}
}

// bareGinHealthz is the bench's ceiling (bench/bare.go): a bare engine
// answering "ok".
func bareGinHealthz() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	ok := []byte("ok")
	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, "text/plain; charset=utf-8", ok) })
	return r
}

// BenchmarkBareGinNet is the ceiling as the bench runs it: no timeouts.
func BenchmarkBareGinNet(b *testing.B) {
	netLoop(b, bareGinHealthz(), nil, "/healthz", "ok")
}

// BenchmarkBareGinTimeoutsNet is the ceiling with serve's timeouts: what
// the slow-client defences cost net/http per request.
func BenchmarkBareGinTimeoutsNet(b *testing.B) {
	netLoop(b, bareGinHealthz(), productionTimeouts, "/healthz", "ok")
}

// BenchmarkHealthzNet is /healthz through the whole middleware stack, on
// a server with serve's timeouts.
func BenchmarkHealthzNet(b *testing.B) {
	ts := newBenchServer(b)
	netLoop(b, ts.app.Routes(), productionTimeouts, "/healthz", "ok")
}

// BenchmarkHealthzNoTimeoutsNet is /healthz without the timeouts, to
// compare the middleware stack alone with the ceiling.
func BenchmarkHealthzNoTimeoutsNet(b *testing.B) {
	ts := newBenchServer(b)
	netLoop(b, ts.app.Routes(), nil, "/healthz", "ok")
}

// BenchmarkBareGinHealthz is the bench's ceiling in process, beside
// BenchmarkHealthz (the recorder's own allocations count in both).
func BenchmarkBareGinHealthz(b *testing.B) {
	serveLoop(b, bareGinHealthz(), httptest.NewRequest(http.MethodGet, "/healthz", nil), http.StatusOK, "ok")
}

// BenchmarkHealthzMetrics is /healthz with metrics on (METRICS_ADDR set):
// the request histogram's series looked up per request.
func BenchmarkHealthzMetrics(b *testing.B) {
	ts := newBenchServer(b, func(c *Config) { c.Metrics = metrics.New() })
	serveLoop(b, ts.app.Routes(), httptest.NewRequest(http.MethodGet, "/healthz", nil), http.StatusOK, "ok")
}

// BenchmarkLoginPageNet is the anonymous login page (prerendered) over
// TCP on a server with serve's timeouts: the bench's login row.
func BenchmarkLoginPageNet(b *testing.B) {
	ts := newBenchServer(b)
	netLoop(b, ts.app.Routes(), productionTimeouts, "/accounts/login/", `id="login-form"`)
}

// BenchmarkBareGinLoginPageNet is the floor for the login page's exact
// response: a bare engine (no middleware) answering the same status,
// headers and body from values built once. What the login page costs
// above it is the middleware; what this costs above BenchmarkBareGinNet
// is net/http's work for eleven headers instead of a few (the map grows
// past its first group, WriteHeader clones and sorts it) and the bigger
// body.
func BenchmarkBareGinLoginPageNet(b *testing.B) {
	ts := newBenchServer(b)
	p := ts.app.areas.signIn.loginPlain["en"]
	body := p.bytes()
	if body == nil {
		b.Fatal("no prerendered login page")
	}
	headers := http.Header{}
	headers["Content-Security-Policy"] = ts.app.areas.mw.csp
	for _, v := range securityHeaderValues {
		headers[v.key] = v.val
	}
	headers["Cache-Control"] = noStoreValue
	headers["Vary"] = varyValue
	headers["Content-Type"] = htmlContentType
	headers["Content-Length"] = p.length
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/accounts/login/", func(c *gin.Context) {
		hd := c.Writer.Header()
		hd["X-Request-Id"] = newRequestIDHeader()
		for k, v := range headers {
			hd[k] = v[:1:1]
		}
		c.Status(http.StatusOK)
		_, _ = c.Writer.Write(body)
	})
	netLoop(b, r, productionTimeouts, "/accounts/login/", `id="login-form"`)
}
