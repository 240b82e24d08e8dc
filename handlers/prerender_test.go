package handlers

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
)

// The plain login page comes from prerendered bytes; every other variant
// (a flash to show, a ?next= to carry) is rendered per request, and the
// prerendered bytes are exactly what rendering gives.
func TestLoginPagePrerendered(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.LogoutRedirectURL = "/accounts/login/" })
	ts.createUser(t, "alice", "alice@example.com", "correct-horse-battery")
	c := ts.client(t)

	plain := c.get("/accounts/login/")
	wantStatus(t, plain, http.StatusOK)
	var want bytes.Buffer
	if err := ts.h.loginView(components.Page{LanguageNext: "/accounts/login/"}, "").Render(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	if plain.body != want.String() {
		t.Fatalf("plain login page differs from a fresh render:\n%s", plain.body)
	}
	if again := c.get("/accounts/login/"); again.body != plain.body {
		t.Fatal("second plain login page differs from the first")
	}
	for _, h := range []string{"Content-Security-Policy", "Cache-Control", "Vary", "X-Frame-Options"} {
		if plain.Header.Get(h) == "" {
			t.Errorf("prerendered page lacks %s", h)
		}
	}
	if got := plain.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if c.sessionCookie() != "" {
		t.Error("a visitor got a session cookie")
	}

	// ?next= is carried.
	withNext := c.get("/accounts/login/?next=" + url.QueryEscape("/accounts/profile/"))
	if v, _ := withNext.doc(t).Find("#login-form input[name=next]").Attr("value"); v != "/accounts/profile/" {
		t.Errorf("next: got %q", v)
	}
	if withNext.body == plain.body {
		t.Error("page with ?next= is the plain page")
	}

	// A flash is shown once, then the plain page again.
	c.login("alice", "correct-horse-battery")
	res := c.postForm("/accounts/logout/", nil)
	wantRedirect(t, res, "/accounts/login/")
	flashed := c.get("/accounts/login/")
	if msg := flashed.text(t, "[data-testid=flash]"); !strings.Contains(msg, "signed out") {
		t.Errorf("flash after logout: got %q", msg)
	}
	if after := c.get("/accounts/login/"); after.body != plain.body {
		t.Errorf("after the flash was shown, the page is not the plain one:\n%s", after.body)
	}
}

// connWriteBuffer is the size of the buffer net/http writes a response
// through (its connection's bufio.Writer): a response of at most this many
// bytes, status line and headers included, leaves in one write(2).
const connWriteBuffer = 4096

// writeCountingListener counts the Write calls on the connections it accepts.
type writeCountingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l writeCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return writeCountingConn{Conn: c, writes: l.writes}, nil
}

type writeCountingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c writeCountingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// The anonymous login page is the app's most requested page, and it is
// prerendered: all its cost is the middleware and the write. In every
// shipped language the whole response (status line, headers as sent to a
// client like the bench's, body) fits net/http's write buffer, so it
// leaves in one write system call; 70 bytes over cost a second one per
// request (docs/performance.md). The next footer link must find room or
// fail here.
func TestLoginPageFitsOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	newTestServerWith(t, testSetup{listener: writeCountingListener{Listener: ln, writes: &writes}})
	addr := ln.Addr().String()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, l := range locale.Languages {
		t.Run(l.Code, func(t *testing.T) {
			// What the bench sends, on a kept-alive connection, asking
			// for the language.
			before := writes.Load()
			raw, res, body := rawExchange(t, conn, addr, route.URL(route.Login), "Accept-Language: "+l.Code+"\r\n")
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<html lang="`+l.Code+`"`) || !strings.Contains(string(body), `id="login-form"`) {
				t.Fatalf("got %d, not the %s login page:\n%s", res.StatusCode, l.Code, body)
			}
			size, head := len(raw), len(raw)-len(body)
			t.Logf("%s: %d bytes (headers %d, body %d), %d to spare", l.Code, size, head, len(body), connWriteBuffer-size)
			if size > connWriteBuffer {
				t.Errorf("%s login page response: got %d bytes (headers %d + body %d), want at most %d (one write)",
					l.Code, size, head, len(body), connWriteBuffer)
			}
			if got := writes.Load() - before; got != 1 {
				t.Errorf("%s login page: written in %d writes, want 1", l.Code, got)
			}
		})
	}
}

// rawExchange sends a GET for path, as the bench does, with the extra
// header lines on conn (kept alive), and returns every byte of the one
// response in flight as it was sent, the response and its body.
func rawExchange(t *testing.T, conn net.Conn, host, path, extra string) (string, *http.Response, []byte) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: gatehouse-bench\r\n" + extra + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	res, err := http.ReadResponse(bufio.NewReader(io.TeeReader(conn, &raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return raw.String(), res, body
}

// rawGet is rawExchange's bytes, with the lines that differ per request
// masked (maskPerRequest).
func rawGet(t *testing.T, conn net.Conn, host, path, extra string) string {
	t.Helper()
	raw, _, _ := rawExchange(t, conn, host, path, extra)
	return maskPerRequest(raw)
}

// maskPerRequest masks the values of a raw response's lines that differ
// per request (Date, X-Request-Id).
func maskPerRequest(raw string) string {
	lines := strings.SplitAfter(raw, "\r\n")
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ": "); ok && (k == "Date" || k == "X-Request-Id") {
			lines[i] = k + ": (masked)\r\n"
		}
	}
	return strings.Join(lines, "")
}
