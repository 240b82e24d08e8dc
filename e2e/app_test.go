package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/internal/passhash"
	"gatehouse/mail"
	"gatehouse/mail/mailtest"
	"gatehouse/models"
)

// testHashParams keep argon2id real but cheap, as handlers' tests do
// (handlers/helpers_test.go): the browser, not hashing, should set the pace.
var testHashParams = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// app is the whole Gatehouse stack as production builds it
// (handlers.New(...).Routes()) on a fresh SQLite file, served on 127.0.0.1.
type app struct {
	*httptest.Server
	db       *gorm.DB
	users    *models.Users
	accounts *auth.Accounts
	handler  *handlers.App
	logs     *syncBuffer
	// mail is the SMTP server the app sends to; nil unless withMail.
	mail *mailtest.Server
	// mailWired reports whether wireMail could hand the app the SMTP server.
	mailWired bool

	// baseURL is the app's BASE_URL.
	baseURL string

	mu       sync.Mutex
	requests []request
}

// request is what the server saw of one request: enough to prove whether
// htmx or a plain form sent it.
type request struct {
	Method, Path string
	HTMX         bool
	Status       int
}

// appOption adjusts the app before it starts.
type appOption func(t *testing.T, a *app, cfg *handlers.Config)

// withMail starts a real SMTP server on 127.0.0.1 and points the app at it.
func withMail() appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		t.Helper()
		a.mail = mailtest.NewServer(t, mailtest.Options{})
		a.mailWired = wireMail(cfg, a.mail.URL())
	}
}

// wireMail points the app's mailer at the test SMTP server.
func wireMail(cfg *handlers.Config, smtpURL string) bool {
	m, err := mail.NewSMTP(smtpURL, "Gatehouse <webmaster@localhost>")
	if err != nil {
		return false
	}
	cfg.Mailer = m
	return true
}

// startBackground runs the app's background work (the outbox worker, the
// sweeps) for the test's lifetime, as serve does, and waits (bounded) for
// it to drain at the end.
func startBackground(t *testing.T, app *handlers.App) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("background work did not stop within 10s of the test's end")
		}
	})
}

// newApp starts the app for one test. Its BaseURL is the server's own
// address, so links in e-mails lead back to it.
func newApp(t *testing.T, opts ...appOption) *app {
	t.Helper()
	db, err := models.Open(context.Background(), filepath.Join(t.TempDir(), "e2e.db"))
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })

	a := &app{db: db, logs: &syncBuffer{}}
	srv := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1
	a.Server = srv
	cfg := handlers.Config{
		BaseURL: "http://" + srv.Listener.Addr().String(),
		// Mail not aimed at a test SMTP server goes to the app's log
		// buffer rather than the test output.
		Mailer: mail.NewConsole(a.logs, "Gatehouse <webmaster@localhost>"),
	}
	for _, o := range opts {
		o(t, a, &cfg)
	}
	a.baseURL = cfg.BaseURL
	log := slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hasher := passhash.NewHasher(testHashParams, 4, 5*time.Second)
	cfg.Outbox.Poll = 100 * time.Millisecond
	app := handlers.NewApp(log, db, hasher, cfg)
	a.handler = app
	a.users = models.NewUsers(db, hasher)
	a.accounts = app.Accounts()
	srv.Config.Handler = a.record(app.Handler)
	startBackground(t, app)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", a.logs.String())
		}
	})
	return a
}

// record notes each request's method, path, HX-Request header and status
// before the app's own stack sees it; it changes nothing.
func (a *app) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		a.mu.Lock()
		a.requests = append(a.requests, request{Method: r.Method, Path: r.URL.Path, HTMX: r.Header.Get("HX-Request") == "true", Status: sw.status})
		a.mu.Unlock()
	})
}

// lastRequest returns the latest request with this method and path.
func (a *app) lastRequest(t *testing.T, method, path string) request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.requests) - 1; i >= 0; i-- {
		if r := a.requests[i]; r.Method == method && r.Path == path {
			return r
		}
	}
	t.Fatalf("server saw no %s %s; requests: %+v", method, path, a.requests)
	return request{}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// createUser stores an active user through the model.
func (a *app) createUser(t *testing.T, username, email, password string) *models.User {
	t.Helper()
	return a.create(t, models.NewUser{Username: username, Email: email, Password: password})
}

// createSuperuser stores an active superuser (and so staff) through the
// model: the admin's tests sign in as one.
func (a *app) createSuperuser(t *testing.T, username, email, password string) *models.User {
	t.Helper()
	return a.create(t, models.NewUser{Username: username, Email: email, Password: password, IsSuperuser: true})
}

func (a *app) create(t *testing.T, nu models.NewUser) *models.User {
	t.Helper()
	u, err := a.users.Create(context.Background(), nu)
	if err != nil {
		t.Fatalf("create user %q: %v", nu.Username, err)
	}
	return u
}

// status answers the status of a plain GET, without following redirects:
// the guard for tests of endpoints that another issue adds.
func (a *app) status(t *testing.T, path string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(a.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// needEndpoint skips the test while path answers 404: the feature belongs
// to issue 3 and is not in this tree yet.
func (a *app) needEndpoint(t *testing.T, path string) {
	t.Helper()
	if a.status(t, path) == http.StatusNotFound {
		t.Skipf("needs %s from issue 3", path)
	}
}
