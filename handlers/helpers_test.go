package handlers

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/mail"
	"gatehouse/models"
)

// testHashParams keep argon2id real but cheap, so the suite stays fast.
var testHashParams = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testServer is the whole app (every middleware, real SQLite file) behind
// an httptest server.
type testServer struct {
	*httptest.Server
	app    *App
	h      *Handler
	db     *gorm.DB
	users  *models.Users
	logs   *syncBuffer
	dbPath string
	// mailOut holds what the default console mailer printed.
	mailOut *syncBuffer
}

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestServer starts the app on a fresh SQLite file. Options adjust the
// configuration before the handler is built.
func newTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, testSetup{}, opts...)
}

// testSetup adjusts what newTestServerWith builds beyond Config: the hasher
// (nil: cheap test parameters, 4 slots) and how the database is opened.
type testSetup struct {
	hasher *passhash.Hasher
	dbOpts []models.OpenOption
	// listener, when set, is where the server listens (so BaseURL can be
	// its address before the app is built: the OpenID issuer).
	listener net.Listener
	// renderAlways, when set, turns prerendering off (as templ's hot
	// reload does), so every page goes through the render path: tests
	// compare the two.
	renderAlways bool
}

// newTestServerWith is newTestServer with a custom hasher or database
// options, for flood, timing and fault tests.
func newTestServerWith(t testing.TB, setup testSetup, opts ...func(*Config)) *testServer {
	t.Helper()
	// An SQLite file, or a fresh PostgreSQL database with TEST_DATABASE_URL.
	dbPath := testdb.URL(t)
	db, err := models.Open(context.Background(), dbPath, setup.dbOpts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mailOut := &syncBuffer{}
	cfg := Config{
		BaseURL: "http://example.test",
		// Mail goes to a buffer unless a test sets an SMTP mailer, so the
		// console mailer never clutters test output.
		Mailer: mail.NewConsole(mailOut, "Gatehouse <noreply@example.test>"),
		Outbox: mail.WorkerOptions{Poll: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, DrainTimeout: 5 * time.Second},
	}
	for _, o := range opts {
		o(&cfg)
	}
	hasher := setup.hasher
	if hasher == nil {
		hasher = passhash.NewHasher(testHashParams, 4, 5*time.Second)
	}
	app := NewApp(log, db, hasher, cfg)
	if setup.renderAlways {
		app.areas.signIn.loginPlain = nil
	}
	// Background work (the outbox worker, the sweeps) runs for the
	// server's life and stops after it (cleanups run last-registered
	// first), exactly as under serve.
	bg, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		app.Run(bg)
	}()
	t.Cleanup(func() {
		stopBG()
		<-bgDone
	})
	var srv *httptest.Server
	if setup.listener != nil {
		srv = httptest.NewUnstartedServer(app.Handler)
		srv.Listener.Close()
		srv.Listener = setup.listener
		srv.Start()
	} else {
		srv = httptest.NewServer(app.Handler)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: srv, app: app, h: app.h, db: db, users: app.h.users, logs: logs, dbPath: dbPath, mailOut: mailOut}
}

// issueReset issues a password-reset token for userID valid for ttl and
// returns it, as the outbox worker does when it mails a link.
func (ts *testServer) issueReset(t testing.TB, userID uint, ttl time.Duration) string {
	t.Helper()
	token, err := ts.app.core.Tokens.Issue(context.Background(), models.TokenIssue{Purpose: models.PurposePasswordReset, UserID: userID, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// createUser stores an active user directly through the model.
func (ts *testServer) createUser(t testing.TB, username, email, password string) *models.User {
	t.Helper()
	u, err := ts.users.Create(context.Background(), models.NewUser{Username: username, Email: email, Password: password})
	if err != nil {
		t.Fatalf("create user %q: %v", username, err)
	}
	return u
}

// testClient is a browser-like client: a cookie jar, and redirects not
// followed so tests see each 303.
type testClient struct {
	t    *testing.T
	ts   *testServer
	http *http.Client
	// base, when set, replaces ts.URL in relative paths (domainClient).
	base string
}

func (ts *testServer) client(t *testing.T) *testClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{t: t, ts: ts, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

// doc parses the body as HTML.
func (r *response) doc(t testing.TB) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return d
}

// text returns the trimmed text of the first element matching sel.
func (r *response) text(t testing.TB, sel string) string {
	t.Helper()
	return strings.TrimSpace(r.doc(t).Find(sel).First().Text())
}

func (c *testClient) do(req *http.Request) *response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return &response{Response: res, body: string(b)}
}

func (c *testClient) newRequest(method, path string, body io.Reader) *http.Request {
	c.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = cmp.Or(c.base, c.ts.URL) + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	return req
}

func (c *testClient) get(path string) *response {
	c.t.Helper()
	return c.do(c.newRequest(http.MethodGet, path, nil))
}

func (c *testClient) htmxGet(path string) *response {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, path, nil)
	req.Header.Set("HX-Request", "true")
	return c.do(req)
}

func (c *testClient) postForm(path string, v url.Values) *response {
	c.t.Helper()
	req := c.newRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *testClient) htmxPost(path string, v url.Values) *response {
	c.t.Helper()
	req := c.newRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	return c.do(req)
}

// cookie returns the client's current value of the named cookie, or "".
func (c *testClient) cookie(name string) string {
	u, _ := url.Parse(cmp.Or(c.base, c.ts.URL))
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie plants a cookie in the client's jar (for fixation and replay
// tests).
func (c *testClient) setCookie(name, value string) {
	u, _ := url.Parse(cmp.Or(c.base, c.ts.URL))
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// login posts the login form and fails the test unless it succeeds.
func (c *testClient) login(username, password string) {
	c.t.Helper()
	res := c.postForm("/accounts/login/", url.Values{"username": {username}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("login %q: got status %d, want 303; body: %s", username, res.StatusCode, res.body)
	}
}

// sessionCookie returns the client's session cookie value ("" when none).
func (c *testClient) sessionCookie() string { return c.cookie(c.ts.h.store.CookieName()) }

// signUpAndLogin creates a user and returns a client signed in as them.
func (ts *testServer) signUpAndLogin(t *testing.T, username, password string) (*testClient, *models.User) {
	t.Helper()
	u := ts.createUser(t, username, username+"@example.com", password)
	c := ts.client(t)
	c.login(username, password)
	return c, u
}

// wantStatus fails the test when res has another status.
func wantStatus(t *testing.T, res *response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body: %.2000s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.body)
	}
}

// wantRedirect fails the test unless res is a 303 to want.
func wantRedirect(t *testing.T, res *response, want string) {
	t.Helper()
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != want {
		t.Fatalf("%s %s: got Location %q, want %q", res.Request.Method, res.Request.URL.Path, got, want)
	}
}

// sessionCount counts session rows, optionally for one user.
func (ts *testServer) sessionCount(t *testing.T, userID uint) int64 {
	t.Helper()
	var n int64
	q := ts.db.Model(&models.Session{})
	if userID != 0 {
		q = q.Where("user_id = ?", userID)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// clientFrom is a client whose requests say they come from ip (through
// X-Forwarded-For, so the server must trust 127.0.0.1 as a proxy: see
// trustLocalProxy) with the given User-Agent.
func (ts *testServer) clientFrom(t *testing.T, ip, userAgent string) *testClient {
	t.Helper()
	c := ts.client(t)
	c.http.Transport = headerTransport{base: http.DefaultTransport, set: map[string]string{
		"X-Forwarded-For": ip, "User-Agent": userAgent,
	}}
	return c
}

// trustLocalProxy is a newTestServer option that believes X-Forwarded-For
// from the test client, so tests can speak from many addresses.
func trustLocalProxy(c *Config) { c.TrustedProxies = []string{"127.0.0.1"} }

// headerTransport sets headers on every request.
type headerTransport struct {
	base http.RoundTripper
	set  map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.set {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// domainClient is a client that reaches the test server under the host
// name of BaseURL (example.test) and any other name, all dialled to the
// server: cookies with a Domain (SESSION_COOKIE_DOMAIN) then work as in a
// browser.
func (ts *testServer) domainClient(t *testing.T) *testClient {
	t.Helper()
	c := ts.client(t)
	addr := ts.Listener.Addr().String()
	c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	c.base = ts.app.h.cfg.BaseURL
	return c
}
