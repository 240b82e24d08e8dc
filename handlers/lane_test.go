package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/internal/testdb"
	"gatehouse/metrics"
)

// laneServed is how many requests the plain lane answered, in every
// language.
func laneServed(ts *testServer) int64 {
	var n int64
	for _, p := range ts.app.areas.signIn.loginPlain {
		n += p.laneCount()
	}
	return n
}

// dialServer opens a raw connection to ts.
func dialServer(t *testing.T, ts *testServer) (net.Conn, string) {
	t.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, addr
}

// The plain login page is byte for byte what the render path sends
// (status line, every header in its order, body; the Date and
// X-Request-Id values masked), in every language, with Accept-Language or
// the default, with and without the headers browsers send, over http and
// https (Strict-Transport-Security): the first plain request of a language
// is answered by the chain from the prerendered bytes, every later one by
// the plain lane. Serving from memory changes the cost, never the
// response. Each answer has a request ID of its own, or the proxy's when
// it sent a plain one.
func TestPlainLaneSameResponse(t *testing.T) {
	browser := "Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\nSec-Fetch-Mode: navigate\r\n" +
		"Sec-Fetch-Site: none\r\nSec-Ch-Ua-Mobile: ?0\r\nUpgrade-Insecure-Requests: 1\r\nPriority: u=0, i\r\nCache-Control: max-age=0\r\n"
	for _, base := range []string{"http://example.test", "https://example.test"} {
		setBase := func(c *Config) { c.BaseURL = base }
		lane := newTestServerWith(t, testSetup{}, setBase)
		chain := newTestServerWith(t, testSetup{renderAlways: true}, setBase)
		lc, la := dialServer(t, lane)
		cc, ca := dialServer(t, chain)
		extras := []string{"", browser, "Accept-Language: de-DE,de;q=0.9,en;q=0.5\r\n", "Accept-Language: *\r\n", "Accept-Language: zz\r\n"}
		for _, l := range locale.Languages {
			extras = append(extras, "Accept-Language: "+l.Code+"\r\n", "Accept-Language: "+l.Code+"\r\n"+browser)
		}
		taken := laneServed(lane)
		for _, extra := range extras {
			want := rawGet(t, cc, ca, route.URL(route.Login), extra)
			if !strings.Contains(want, `id="login-form"`) || !strings.HasPrefix(want, "HTTP/1.1 200 OK\r\n") {
				t.Fatalf("%s %q: not the login page:\n%s", base, extra, want)
			}
			ids := map[string]bool{}
			for i := range 3 {
				raw, res, _ := rawExchange(t, lc, la, route.URL(route.Login), extra)
				if got := maskPerRequest(raw); got != want {
					t.Errorf("%s %q, request %d: the lane's answer differs from the chain's:\n%s\nwant:\n%s", base, extra, i, got, want)
				}
				ids[res.Header.Get("X-Request-Id")] = true
			}
			if len(ids) != 3 {
				t.Errorf("%s %q: three answers carried %d request IDs, want 3", base, extra, len(ids))
			}
			raw, res, _ := rawExchange(t, lc, la, route.URL(route.Login), extra+"X-Request-Id: proxy-1.2_3\r\n")
			if got := res.Header.Get("X-Request-Id"); got != "proxy-1.2_3" {
				t.Errorf("%s %q: the proxy's request ID came back as %q", base, extra, got)
			}
			if got := maskPerRequest(raw); got != want {
				t.Errorf("%s %q with a request ID: the lane's answer differs from the chain's:\n%s\nwant:\n%s", base, extra, got, want)
			}
		}
		// Per language, the first plain request went through the chain.
		firsts := int64(len(locale.Languages))
		if got, want := laneServed(lane)-taken, int64(len(extras))*4-firsts; got != want {
			t.Errorf("%s: the lane answered %d requests, want %d", base, got, want)
		}
		// Nothing prerendered, nothing for the lane: the chain server's
		// answers all came through the chain.
		if chain.app.areas.signIn.loginPlain != nil {
			t.Fatal("the rendering server prerenders")
		}
		for _, l := range locale.Languages {
			if lane.app.areas.signIn.loginPlain[l.Code].bytes() == nil {
				t.Fatalf("the prerendering server has no %s page", l.Code)
			}
		}
	}
}

// rawRequestResponse sends req as is on conn and reads the response.
func rawRequestResponse(t *testing.T, conn net.Conn, req, method string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(laneReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// laneReaders keeps one buffered reader per connection, so a response's
// bytes read ahead are not lost to the next.
var laneReaders sync.Map

func laneReader(conn net.Conn) *bufio.Reader {
	r, _ := laneReaders.LoadOrStore(conn, bufio.NewReader(conn))
	return r.(*bufio.Reader)
}

// readBody reads and closes res's body.
func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Only plain requests take the lane: once it is open, a signed-in user
// is still sent away from the login page, a language cookie, ?next=,
// htmx, a forwarded address, a body, HEAD, a header the lane does not
// know and a login POST all go through the chain and get the chain's
// answer.
func TestPlainLaneLeavesOthersToTheChain(t *testing.T) {
	ts := newTestServer(t)
	alice, _ := ts.signUpAndLogin(t, "alice", "correct horse battery")
	visitor := ts.client(t)
	wantStatus(t, visitor.get(route.URL(route.Login)), http.StatusOK) // opens the lane (English)
	if res := visitor.get(route.URL(route.Login)); res.StatusCode != http.StatusOK || laneServed(ts) != 1 {
		t.Fatalf("a plain request: status %d, lane answered %d, want 200 and 1", res.StatusCode, laneServed(ts))
	}
	conn, addr := dialServer(t, ts)
	send := func(name, method, target, extra, body string) (*http.Response, string) {
		t.Helper()
		before := laneServed(ts)
		req := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: lane-test\r\n" + extra
		if body != "" || method == http.MethodPost {
			req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + itoa(uint(len(body))) + "\r\n"
		}
		res := rawRequestResponse(t, conn, req+"\r\n"+body, method)
		got := readBody(t, res)
		if laneServed(ts) != before {
			t.Errorf("%s: taken by the lane", name)
		}
		return res, got
	}

	res, _ := send("signed in", "GET", route.URL(route.Login), "Cookie: "+ts.h.store.CookieName()+"="+alice.sessionCookie()+"\r\n", "")
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
		t.Errorf("signed in: got %d, want a redirect away from the login page", res.StatusCode)
	}
	if _, body := send("language cookie", "GET", route.URL(route.Login), "Cookie: "+languageCookie+"=de\r\n", ""); !strings.Contains(body, `lang="de"`) {
		t.Error("language cookie: not the German page")
	}
	if _, body := send("next", "GET", route.URL(route.Login)+"?next="+url.QueryEscape("/accounts/profile/"), "", ""); !strings.Contains(body, `value="/accounts/profile/"`) {
		t.Error("?next=: not carried")
	}
	send("htmx", "GET", route.URL(route.Login), "HX-Request: true\r\n", "")
	send("forwarded", "GET", route.URL(route.Login), "X-Forwarded-For: 192.0.2.9\r\n", "")
	send("unknown header", "GET", route.URL(route.Login), "X-Something-New: 1\r\n", "")
	send("body", "GET", route.URL(route.Login), "", "a=b")
	send("HEAD", "HEAD", route.URL(route.Login), "", "")
	if res, _ := send("login POST", "POST", route.URL(route.Login), "Origin: "+ts.URL+"\r\n", "username=nobody&password=wrong-password"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("login POST: got %d, want 422", res.StatusCode)
	}
}

// A parallel burst of plain requests, some before the lane is open and
// some after: every answer is the plain page, whichever way it went.
func TestPlainLaneBurst(t *testing.T) {
	ts := newTestServer(t)
	var wg sync.WaitGroup
	bodies := make([]string, 64)
	for i := range bodies {
		wg.Go(func() {
			res, err := http.Get(ts.URL + route.URL(route.Login))
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i] = readBody(t, res)
			if res.StatusCode != http.StatusOK {
				t.Errorf("request %d: status %d", i, res.StatusCode)
			}
		})
	}
	wg.Wait()
	for i, b := range bodies {
		if b != bodies[0] || !strings.Contains(b, `id="login-form"`) {
			t.Fatalf("answer %d differs from answer 0 or is not the login page", i)
		}
	}
	if laneServed(ts) == 0 {
		t.Error("no request of the burst took the lane")
	}
}

// The lane counts and logs its requests as the chain does: the route's
// pattern, the method and the status in the metrics, and a debug line
// with the request ID.
func TestPlainLaneMetricsAndLog(t *testing.T) {
	m := metrics.New()
	ts := newTestServer(t, func(c *Config) { c.Metrics = m })
	msrv := httptest.NewServer(m.Handler())
	defer msrv.Close()
	for range 3 {
		wantStatus(t, ts.client(t).get(route.URL(route.Login)), http.StatusOK)
	}
	if laneServed(ts) != 2 {
		t.Fatalf("lane answered %d, want 2", laneServed(ts))
	}
	series := `gatehouse_http_request_duration_seconds_count{method="GET",route="` + route.Pattern(route.Login) + `",status="200"}`
	if got := sample(scrape(t, msrv), series); got != 3 {
		t.Errorf("%s: got %v, want 3", series, got)
	}
	if got := strings.Count(ts.logs.String(), `msg=request request_id=`); got < 3 {
		t.Errorf("got %d request lines, want 3; log:\n%s", got, ts.logs.String())
	}
}

// A database file replaced under the server: the plain login page too is
// answered 503 (the chain's check), lane open or not.
func TestPlainLaneReplacedFile(t *testing.T) {
	testdb.SkipOnPostgres(t, "replaces the SQLite file")
	ts := newTestServer(t)
	for range 2 {
		wantStatus(t, ts.client(t).get(route.URL(route.Login)), http.StatusOK)
	}
	if laneServed(ts) != 1 {
		t.Fatalf("lane answered %d, want 1", laneServed(ts))
	}
	replaceDatabaseFile(t, ts)
	var res *response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res = ts.client(t).get(route.URL(route.Login)); res.StatusCode == http.StatusServiceUnavailable {
			break
		}
	}
	wantUnavailable(t, res, false)
}

// The plain lane stands in for the login page's middleware chain (each
// either decides nothing for a plain request, or the lane decides it the
// same way). A middleware added to the chain must be weighed for the lane,
// mirrored there or kept out by narrowing plainHeader, before this list
// changes.
func TestPlainLaneStandsInForTheChain(t *testing.T) {
	ts := newTestServer(t)
	var got []string
	for _, h := range ts.app.loginChain {
		// The function's name, without the package, the router that made
		// a closure, and the closure's number (the compiler's choice).
		name := runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name()
		name = strings.TrimPrefix(strings.TrimPrefix(name, "gatehouse/handlers."), "(*App).router.")
		name = regexp.MustCompile(`(-fm|\.func\d+)$`).ReplaceAllString(name, "")
		got = append(got, name)
	}
	want := []string{
		"(*middleware).recoverPanics", "(*middleware).logRequests", "(*middleware).securityHeaders",
		"(*middleware).noStore", "(*middleware).requestContextFor", "(*middleware).limitBody",
		"(*Handler).installSessions", "(*middleware).loadUser", "(*middleware).localize",
		"(*middleware).guestOnly",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the login page's middleware changed; weigh the change for the plain lane (lane.go), then update this list:\n got %q\nwant %q", got, want)
	}
}
