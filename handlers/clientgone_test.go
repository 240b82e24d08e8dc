package handlers

import (
	"fmt"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// statusRE finds the status of each request line the server logged.
var statusRE = regexp.MustCompile(`msg=request .*status=(\d+)`)

// wantNoServerFault fails if the server logged a 5xx answer or any ERROR
// line: a client that hangs up or sends its body too slowly is the
// client's doing.
func wantNoServerFault(t *testing.T, logs string) {
	t.Helper()
	for _, m := range statusRE.FindAllStringSubmatch(logs, -1) {
		if m[1][0] == '5' {
			t.Errorf("request answered %s:\n%s", m[1], logs)
		}
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("client fault logged as ERROR:\n%s", logs)
	}
}

// rawPost opens a connection to ts and sends a form POST's headers with a
// Content-Length of n and then the first part of the body only.
func rawPost(t *testing.T, addr, path string, n int, part string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		path, addr, n, part)
	return conn
}

// waitLogged waits until the server has logged n requests.
func waitLogged(t *testing.T, ts *testServer, n int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := ts.logs.String()
		if len(statusRE.FindAllString(logs, -1)) >= n || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClientGoneIsNotAServerError: a client that sends half a body and
// hangs up, or sends it slower than the server's read timeout, gets no 500
// and leaves no ERROR line, on every form that reads a body.
func TestClientGoneIsNotAServerError(t *testing.T) {
	paths := []string{"/accounts/login/", "/accounts/signup/", "/accounts/signup/validate/username/",
		"/accounts/password_reset/", "/accounts/logout/"}
	body := "username=alice&password=correct+horse+battery&email=alice%40example.com&password1=x&password2=x"
	t.Run("hang up mid-body", func(t *testing.T) {
		ts := newTestServer(t)
		ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
		for _, p := range paths {
			conn := rawPost(t, ts.Listener.Addr().String(), p, len(body)+100, body)
			time.Sleep(20 * time.Millisecond)
			conn.Close()
		}
		logs := waitLogged(t, ts, len(paths))
		if got := len(statusRE.FindAllString(logs, -1)); got < len(paths) {
			t.Fatalf("got %d requests logged, want %d:\n%s", got, len(paths), logs)
		}
		t.Logf("server log:\n%s", logs)
		wantNoServerFault(t, logs)
	})
	t.Run("hang up after the body", func(t *testing.T) {
		ts := newTestServer(t)
		ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
		for _, p := range paths {
			rawPost(t, ts.Listener.Addr().String(), p, len(body), body).Close()
		}
		logs := waitLogged(t, ts, len(paths))
		if got := len(statusRE.FindAllString(logs, -1)); got < len(paths) {
			t.Fatalf("got %d requests logged, want %d:\n%s", got, len(paths), logs)
		}
		wantNoServerFault(t, logs)
	})
	t.Run("read timeout", func(t *testing.T) {
		ts := newTestServer(t)
		ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
		// Restart the listener with a short read timeout, as main's server
		// has one.
		ts.Server.Close()
		srv := httptest.NewUnstartedServer(ts.app.Routes())
		srv.Config.ReadTimeout = 300 * time.Millisecond
		srv.Start()
		defer srv.Close()
		var conns []net.Conn
		for _, p := range paths {
			conns = append(conns, rawPost(t, srv.Listener.Addr().String(), p, len(body)+100, body))
		}
		logs := waitLogged(t, ts, len(paths))
		for _, c := range conns {
			c.Close()
		}
		if got := len(statusRE.FindAllString(logs, -1)); got < len(paths) {
			t.Fatalf("got %d requests logged, want %d:\n%s", got, len(paths), logs)
		}
		t.Logf("server log:\n%s", logs)
		wantNoServerFault(t, logs)
	})
}
