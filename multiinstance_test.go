package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/mail/mailtest"
)

// Several instances on one database (issue 12): three real gatehouse
// processes behind a round-robin reverse proxy. Whatever one instance does,
// the next request, answered by another, sees it.

func TestMultiInstancePostgres(t *testing.T) {
	if !testdb.Postgres() {
		t.Skip("set TEST_DATABASE_URL=postgres://… to run the instances on PostgreSQL")
	}
	runMultiInstance(t, testdb.URL(t))
}

func TestMultiInstanceSQLite(t *testing.T) {
	testdb.SkipOnPostgres(t, "several processes on one SQLite file (run without TEST_DATABASE_URL)")
	runMultiInstance(t, filepath.Join(t.TempDir(), "shared.db"))
}

// roundRobin is a reverse proxy that sends each request to the next live
// backend and says which one answered (X-Backend). A backend that cannot
// be reached is dropped, as a load balancer's health check would.
type roundRobin struct {
	mu       sync.Mutex
	backends []*url.URL
	dead     map[int]bool
	next     int
}

func (rr *roundRobin) pick() (int, *url.URL) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for range rr.backends {
		i := rr.next % len(rr.backends)
		rr.next++
		if !rr.dead[i] {
			return i, rr.backends[i]
		}
	}
	return -1, nil
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, target := rr.pick()
	if target == nil {
		http.Error(w, "no backend", http.StatusBadGateway)
		return
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.ModifyResponse = func(res *http.Response) error {
		res.Header.Set("X-Backend", fmt.Sprint(i))
		return nil
	}
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// A request the client gave up on says nothing about the backend.
		if r.Context().Err() == nil {
			rr.mu.Lock()
			rr.dead[i] = true
			rr.mu.Unlock()
		}
		http.Error(w, "backend "+fmt.Sprint(i)+" down: "+err.Error(), http.StatusBadGateway)
	}
	p.ServeHTTP(w, r)
}

// mclient is a browser: a cookie jar on the proxy, no redirects followed.
type mclient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newMClient(t *testing.T, base string) *mclient {
	jar, _ := cookiejar.New(nil)
	return &mclient{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request and returns status, Location, body and backend.
func (c *mclient) do(method, path string, form url.Values) (int, string, string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b), res.Header.Get("X-Backend")
}

// signedInEverywhere asks for the profile once per instance and reports
// on which backends the client was signed in as username.
func (c *mclient) signedInOn(username string, n int) map[string]bool {
	c.t.Helper()
	on := map[string]bool{}
	for range n {
		status, _, body, backend := c.do(http.MethodGet, "/accounts/profile/", nil)
		on[backend] = status == http.StatusOK && strings.Contains(body, username)
	}
	return on
}

func runMultiInstance(t *testing.T, dbURL string) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	smtpSrv := mailtest.NewServer(t, mailtest.Options{})
	env := append(os.Environ(), "ADDR=127.0.0.1:0", "DATABASE_URL="+dbURL, "LOG_LEVEL=warn",
		"SMTP_URL=smtp://"+smtpSrv.Addr, "HASH_CONCURRENCY=1", "HASH_QUEUE_TIMEOUT=30s",
		"LOGIN_LIMIT_PER_USER_IP=4/15m", "LOGIN_LIMIT_PER_IP=off", "SIGNUP_LIMIT_PER_IP=off",
		"SIGNUP_CHECK_LIMIT_PER_IP=off", "DATABASE_MAX_CONNS=4")
	e := &crashEnv{bin: bin, env: env}

	// Three instances start at once on a new database: one applies the
	// migrations, the others wait for it.
	const n = 3
	cmds := make([]*exec.Cmd, n)
	bases := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { cmds[i], bases[i] = startGatehouse(t, e) })
	}
	wg.Wait()
	rr := &roundRobin{dead: map[int]bool{}}
	for _, b := range bases {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		rr.backends = append(rr.backends, u)
	}
	proxy := httptest.NewServer(rr)
	defer proxy.Close()
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}()

	const pw, pw2 = "multi instance pass 1", "multi instance pass 2"
	cmd := exec.Command(bin, "createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin")
	cmd.Env, cmd.Stdin = env, strings.NewReader(pw+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("createsuperuser: %v\n%s", err, out)
	}

	// Sign up on one instance, log in on the next, the session works on
	// the third (and on every one).
	a := newMClient(t, proxy.URL)
	status, loc, _, b1 := a.do(http.MethodPost, "/accounts/signup/", url.Values{
		"username": {"alice"}, "email": {"alice@example.com"}, "password1": {pw}, "password2": {pw}})
	if status != http.StatusSeeOther {
		t.Fatalf("sign-up: got %d %s, want 303", status, loc)
	}
	b := newMClient(t, proxy.URL)
	status, _, _, b2 := b.do(http.MethodPost, "/accounts/login/", url.Values{"username": {"alice"}, "password": {pw}})
	if status != http.StatusSeeOther || b2 == b1 {
		t.Fatalf("log in: got %d on backend %s (sign-up on %s), want 303 on another", status, b2, b1)
	}
	for name, c := range map[string]*mclient{"sign-up": a, "login": b} {
		if on := c.signedInOn("alice", n); len(on) != n || !on["0"] || !on["1"] || !on["2"] {
			t.Fatalf("%s session: signed in on %v, want on all %d instances", name, on, n)
		}
	}

	// Logout on one instance ends the session on all.
	if status, _, _, _ := a.do(http.MethodPost, "/accounts/logout/", nil); status != http.StatusSeeOther {
		t.Fatalf("logout: got %d, want 303", status)
	}
	for backend, ok := range a.signedInOn("alice", n) {
		if ok {
			t.Errorf("after logout: still signed in on instance %s", backend)
		}
	}

	// An admin on one instance revokes alice's sessions: gone on all.
	admin := newMClient(t, proxy.URL)
	if status, _, _, _ := admin.do(http.MethodPost, "/accounts/login/", url.Values{"username": {"root"}, "password": {pw}}); status != http.StatusSeeOther {
		t.Fatalf("admin login: got %d", status)
	}
	aliceID := userID(t, admin, "alice")
	if status, _, body, _ := admin.do(http.MethodPost, "/admin/users/"+aliceID+"/sessions/revoke-all/", nil); status != http.StatusSeeOther {
		t.Fatalf("revoke all: got %d %.300s", status, body)
	}
	for backend, ok := range b.signedInOn("alice", n) {
		if ok {
			t.Errorf("after revocation: still signed in on instance %s", backend)
		}
	}

	// A password change on one instance: the other session ends on all,
	// the old password fails and the new one works on all.
	c1, c2 := newMClient(t, proxy.URL), newMClient(t, proxy.URL)
	for _, c := range []*mclient{c1, c2} {
		if status, _, _, _ := c.do(http.MethodPost, "/accounts/login/", url.Values{"username": {"alice"}, "password": {pw}}); status != http.StatusSeeOther {
			t.Fatalf("log in again: got %d", status)
		}
	}
	if status, _, body, _ := c1.do(http.MethodPost, "/accounts/password_change/", url.Values{
		"old_password": {pw}, "new_password1": {pw2}, "new_password2": {pw2}}); status != http.StatusSeeOther {
		t.Fatalf("password change: got %d %.300s", status, body)
	}
	for backend, ok := range c2.signedInOn("alice", n) {
		if ok {
			t.Errorf("after the password change: the other session still works on instance %s", backend)
		}
	}
	for i := range n {
		c := newMClient(t, proxy.URL)
		if status, _, _, backend := c.do(http.MethodPost, "/accounts/login/", url.Values{"username": {"alice"}, "password": {pw}}); status == http.StatusSeeOther {
			t.Errorf("attempt %d: the old password still logs in on instance %s", i, backend)
		}
	}
	if status, _, _, _ := newMClient(t, proxy.URL).do(http.MethodPost, "/accounts/login/", url.Values{"username": {"alice"}, "password": {pw2}}); status != http.StatusSeeOther {
		t.Errorf("the new password: got %d, want 303", status)
	}

	// Throttle counts are shared: with 4 failures per 15 minutes, bob is
	// blocked after 4 failures spread over the instances, on every one.
	seen := map[string]bool{}
	for i := range 4 {
		status, _, _, backend := newMClient(t, proxy.URL).do(http.MethodPost, "/accounts/login/", url.Values{"username": {"bob"}, "password": {"wrong" + fmt.Sprint(i)}})
		seen[backend] = true
		if status == http.StatusTooManyRequests {
			t.Fatalf("failure %d on instance %s: already throttled", i, backend)
		}
	}
	if len(seen) != n {
		t.Fatalf("the failures reached instances %v, want all %d", seen, n)
	}
	for range n {
		if status, _, _, backend := newMClient(t, proxy.URL).do(http.MethodPost, "/accounts/login/", url.Values{"username": {"bob"}, "password": {"wrong again"}}); status != http.StatusTooManyRequests {
			t.Errorf("fifth failure on instance %s: got %d, want 429 (counts not shared)", backend, status)
		}
	}

	// One reset request mails once. (First, the mails of the flows above,
	// such as the password-changed notice.)
	for before := -1; before != smtpSrv.Accepted(); {
		before = smtpSrv.Accepted()
		time.Sleep(500 * time.Millisecond)
	}
	for range smtpSrv.Accepted() {
		smtpSrv.Next(t, time.Second)
	}
	if status, _, _, _ := newMClient(t, proxy.URL).do(http.MethodPost, "/accounts/password_reset/", url.Values{"email": {"ALICE@example.com"}}); status != http.StatusSeeOther {
		t.Fatalf("reset request: got %d", status)
	}
	if msg := smtpSrv.Next(t, 10*time.Second); len(msg.To) != 1 || msg.To[0] != "alice@example.com" || !strings.Contains(msg.Subject, "reset") {
		t.Errorf("reset mail: got %q to %v, want the reset mail to alice@example.com", msg.Subject, msg.To)
	}
	smtpSrv.None(t, time.Second)

	// SIGKILL one instance mid-workload: every sign-up answered 303 is
	// there afterwards, and the others carry on.
	var (
		mu        sync.Mutex
		acked     []string
		afterKill atomic.Int64
		killed    atomic.Bool
		serial    atomic.Int64
	)
	ctx, stop := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for ctx.Err() == nil {
				name := fmt.Sprintf("load%d", serial.Add(1))
				c := newMClient(t, proxy.URL)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, proxy.URL+"/accounts/signup/", strings.NewReader(url.Values{
					"username": {name}, "email": {name + "@example.com"}, "password1": {pw}, "password2": {pw}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := c.http.Do(req)
				if err != nil {
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusSeeOther {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
					if killed.Load() {
						afterKill.Add(1)
					}
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("sign-ups before the kill", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 6 })
	if err := cmds[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmds[1].Wait()
	killed.Store(true)
	waitFor("sign-ups after the kill", func() bool { return afterKill.Load() >= 6 })
	stop()
	workers.Wait()
	t.Logf("sign-ups answered 303: %d (%d after the kill)", len(acked), afterKill.Load())
	for _, name := range acked {
		if status, _, _, backend := newMClient(t, proxy.URL).do(http.MethodPost, "/accounts/login/", url.Values{"username": {name}, "password": {pw}}); status != http.StatusSeeOther {
			t.Errorf("sign-up %s was answered 303 but its login on instance %s got %d", name, backend, status)
		}
	}
}

// userID finds a user's ID from the admin user list's search.
func userID(t *testing.T, admin *mclient, username string) string {
	t.Helper()
	_, _, body, _ := admin.do(http.MethodGet, "/admin/users/?q="+url.QueryEscape(username), nil)
	i := strings.Index(body, `href="/admin/users/`)
	for i >= 0 {
		rest := body[i+len(`href="/admin/users/`):]
		if j := strings.IndexByte(rest, '/'); j > 0 && strings.Trim(rest[:j], "0123456789") == "" {
			return rest[:j]
		}
		k := strings.Index(rest, `href="/admin/users/`)
		if k < 0 {
			break
		}
		i += len(`href="/admin/users/`) + k
	}
	t.Fatalf("no user link for %s in the admin list", username)
	return ""
}
