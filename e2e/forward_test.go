package e2e

// Forward auth through real reverse proxies: nginx (auth_request) and
// Caddy (forward_auth) are started by the test with the configurations of
// docs/forward-auth.md (testdata/forward/), in front of an upstream that
// echoes the headers it receives, with Gatehouse as the auth service. Host
// names (app.example.test …) reach 127.0.0.1 through the client's dialer.
// Without nginx or Caddy the test skips, unless CI is set: then it fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/internal/access"
)

// forwardRules are the access rules of the proxy tests.
const forwardRules = `
access_control:
  default_policy: deny
  rules:
    - domain: public.example.test
      policy: bypass
    - domain: ops.example.test
      subject: "group:ops"
      policy: one_factor
    - domain: secure.example.test
      policy: two_factor
    - domain: app.example.test
      policy: one_factor
`

// withForwardAuth makes the app the auth service of *.example.test: its
// BASE_URL is http://auth.example.test:PORT, the session cookie covers
// .example.test, the proxies on 127.0.0.1 are trusted, and the rules above
// are in force.
func withForwardAuth() appOption {
	return func(t *testing.T, a *app, cfg *handlers.Config) {
		t.Helper()
		port := a.Server.Listener.Addr().(*net.TCPAddr).Port
		cfg.BaseURL = fmt.Sprintf("http://auth.example.test:%d", port)
		cfg.SessionCookieDomain = ".example.test"
		cfg.TrustedProxies = []string{"127.0.0.1"}
		cfg.SecretKey = "e2e-secret-key-0123456789-abcdefghijklmnop"
		p := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(p, []byte(forwardRules), 0o600); err != nil {
			t.Fatal(err)
		}
		store, err := access.NewStore(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.AccessRules = store
	}
}

// echoUpstream answers every request with what it received, as JSON.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "uri": r.RequestURI, "headers": r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// echoed is what the upstream saw.
type echoed struct {
	Host    string              `json:"host"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
}

func (e echoed) header(name string) string {
	return strings.Join(http.Header(e.Headers).Values(name), ",")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// needBinary returns path when it exists; without it the test skips
// outside CI and fails in CI.
func needBinary(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if !inCI() {
			t.Skipf("%s is not installed (CI unset): %v", path, err)
		}
		t.Fatalf("CI is set, so the forward-auth proxy tests must run: %v", err)
	}
	return path
}

// proxyConfig fills a configuration template of testdata/forward.
type proxyConfig struct {
	Dir                           string
	Port, GatehousePort, Upstream int
	Gatehouse                     string // BASE_URL
	Domain                        string // the apps' parent domain (Caddy's site *.Domain)
}

func writeTemplate(t *testing.T, name, dst string, v proxyConfig) {
	t.Helper()
	tpl, err := template.ParseFiles(filepath.Join("testdata", "forward", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startProxy starts nginx or Caddy on a free port of 127.0.0.1 in front of
// upstream, asking a for every request, and returns its port.
func startProxy(t *testing.T, kind string, a *app, upstream *httptest.Server) int {
	t.Helper()
	return startProxyFor(t, kind, a, upstream, "example.test")
}

// startProxyFor is startProxy for apps under domain.
func startProxyFor(t *testing.T, kind string, a *app, upstream *httptest.Server, domain string) int {
	t.Helper()
	dir := t.TempDir()
	v := proxyConfig{Dir: dir, Port: freePort(t), GatehousePort: a.Server.Listener.Addr().(*net.TCPAddr).Port,
		Upstream: upstream.Listener.Addr().(*net.TCPAddr).Port, Gatehouse: a.baseURL, Domain: domain}
	var cmd *exec.Cmd
	switch kind {
	case "nginx":
		bin := needBinary(t, "/usr/sbin/nginx")
		writeTemplate(t, "nginx.conf", filepath.Join(dir, "nginx.conf"), v)
		cmd = exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	case "caddy":
		bin := needBinary(t, "/usr/bin/caddy")
		writeTemplate(t, "Caddyfile", filepath.Join(dir, "Caddyfile"), v)
		cmd = exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", kind, out.String())
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("%s error.log:\n%s", kind, b)
			}
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", v.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return v.Port
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s", kind, waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d: %s", kind, v.Port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// visitor is a client with a cookie jar that reaches every host name on
// 127.0.0.1 (the port from the URL) and does not follow redirects.
type visitor struct {
	t *testing.T
	c *http.Client
}

func newVisitor(t *testing.T) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, "127.0.0.1:"+port)
	}
	return &visitor{t: t, c: &http.Client{
		Jar: jar, Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type answer struct {
	status   int
	location string
	body     string
}

func (v *visitor) do(method, rawURL string, form url.Values, hdr ...string) answer {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := v.c.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, location: res.Header.Get("Location"), body: string(b)}
}

func (v *visitor) get(rawURL string, hdr ...string) answer {
	return v.do(http.MethodGet, rawURL, nil, hdr...)
}

// upstream fetches rawURL and expects the app's answer (200 from the echo
// upstream), returning what the upstream saw.
func (v *visitor) upstream(rawURL string, hdr ...string) echoed {
	v.t.Helper()
	a := v.get(rawURL, hdr...)
	if a.status != http.StatusOK {
		v.t.Fatalf("GET %s: got %d (Location %q), want 200 from the app; body: %.300s", rawURL, a.status, a.location, a.body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		v.t.Fatalf("GET %s: not the upstream's answer: %.300s", rawURL, a.body)
	}
	return e
}

// wantLogin expects rawURL to send the visitor to Gatehouse's login page
// with next = rawURL, and returns that login URL.
func (v *visitor) wantLogin(gatehouse, rawURL string) string {
	v.t.Helper()
	a := v.get(rawURL)
	want := gatehouse + "/accounts/login/?next=" + url.QueryEscape(rawURL)
	if a.status != http.StatusFound || a.location != want {
		v.t.Fatalf("GET %s: got %d Location %q, want 302 to %s", rawURL, a.status, a.location, want)
	}
	return a.location
}

// login signs in on the login page at loginURL (with its next) and
// expects to be sent to next.
func (v *visitor) login(loginURL, username, password string) {
	v.t.Helper()
	u, err := url.Parse(loginURL)
	if err != nil {
		v.t.Fatal(err)
	}
	if a := v.get(loginURL); a.status != http.StatusOK {
		v.t.Fatalf("login page %s: %d", loginURL, a.status)
	}
	next := u.Query().Get("next")
	a := v.do(http.MethodPost, loginURL, url.Values{"username": {username}, "password": {password}, "next": {next}})
	if a.status != http.StatusSeeOther || a.location != next {
		v.t.Fatalf("login as %s: got %d Location %q, want 303 to %q", username, a.status, a.location, next)
	}
}

// wantDenied expects a refusal naming username: Caddy shows Gatehouse's
// 403 page itself, nginx sends the visitor to it on Gatehouse's host.
func (v *visitor) wantDenied(rawURL, username string) {
	v.t.Helper()
	a := v.get(rawURL)
	if a.status == http.StatusFound && strings.Contains(a.location, "/auth/denied/?next=") {
		a = v.get(a.location)
	}
	if a.status != http.StatusForbidden || !strings.Contains(a.body, `data-testid="denied-user">`+username+`<`) {
		v.t.Fatalf("GET %s: got %d (Location %q), want 403 naming %s; body: %.400s", rawURL, a.status, a.location, username, a.body)
	}
}

func TestForwardAuthThroughProxies(t *testing.T) {
	for _, kind := range []string{"nginx", "caddy"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, withForwardAuth())
			up := echoUpstream(t)
			port := startProxy(t, kind, a, up)
			gh := a.baseURL
			site := func(host, path string) string { return fmt.Sprintf("http://%s.example.test:%d%s", host, port, path) }
			a.createUser(t, "alice", "alice@example.com", userPassword)
			bob := a.createUser(t, "bob", "bob@example.com", userPassword)

			alice := newVisitor(t)
			t.Run("anonymous goes to the login page and back with identity headers", func(t *testing.T) {
				target := site("app", "/page?x=1&y=%2F")
				alice.login(alice.wantLogin(gh, target), "alice", userPassword)
				e := alice.upstream(target)
				if e.header("Remote-User") != "alice" || e.header("Remote-Email") != "alice@example.com" || e.header("Remote-Groups") != "" {
					t.Errorf("upstream saw Remote-User %q, Remote-Email %q, Remote-Groups %q", e.header("Remote-User"), e.header("Remote-Email"), e.header("Remote-Groups"))
				}
				if e.URI != "/page?x=1&y=%2F" {
					t.Errorf("upstream saw URI %q", e.URI)
				}
			})
			t.Run("client-sent identity headers are replaced", func(t *testing.T) {
				e := alice.upstream(site("app", "/"), "Remote-User", "root", "Remote-Groups", "admins", "Remote-Email", "root@example.com")
				if e.header("Remote-User") != "alice" || e.header("Remote-Groups") != "" || e.header("Remote-Email") != "alice@example.com" {
					t.Errorf("upstream saw Remote-User %q, Remote-Groups %q, Remote-Email %q", e.header("Remote-User"), e.header("Remote-Groups"), e.header("Remote-Email"))
				}
			})
			t.Run("bypass: anyone, and no identity a client sends gets through", func(t *testing.T) {
				e := newVisitor(t).upstream(site("public", "/"), "Remote-User", "root", "Remote-Groups", "admins")
				if e.header("Remote-User") != "" || e.header("Remote-Groups") != "" {
					t.Errorf("bypass: upstream saw Remote-User %q, Remote-Groups %q from the client", e.header("Remote-User"), e.header("Remote-Groups"))
				}
			})
			t.Run("default deny", func(t *testing.T) {
				alice.wantDenied(site("other", "/"), "alice")
			})
			t.Run("a group rule denies, then allows after group add", func(t *testing.T) {
				alice.wantDenied(site("ops", "/"), "alice")
				if _, err := a.accounts.GroupAddByCommand(t.Context(), "ops", []string{"alice"}); err != nil {
					t.Fatal(err)
				}
				if e := alice.upstream(site("ops", "/")); e.header("Remote-Groups") != "ops" {
					t.Errorf("Remote-Groups: got %q, want ops", e.header("Remote-Groups"))
				}
			})
			t.Run("two_factor without a factor: set one up first", func(t *testing.T) {
				target := site("secure", "/")
				r := alice.get(target)
				if want := gh + "/accounts/2fa/?next=" + url.QueryEscape(target); r.status != http.StatusFound || r.location != want {
					t.Errorf("got %d Location %q, want 302 to %s", r.status, r.location, want)
				}
			})
			t.Run("two_factor with a factor: step-up in the same session", func(t *testing.T) {
				v := newVisitor(t)
				target := site("secure", "/dash")
				v.login(v.wantLogin(gh, target), "bob", userPassword)
				setup, err := a.accounts.BeginTOTP(&bob.SessionUser)
				if err != nil {
					t.Fatal(err)
				}
				added, err := a.accounts.ActivateTOTP(t.Context(), bob.ID, auth.FactorSession{}, setup.State, codeAt(t, setup.Secret, time.Now()))
				if err != nil {
					t.Fatal(err)
				}
				r := v.get(target)
				stepUp := gh + "/accounts/reauthenticate/?next=" + url.QueryEscape(target)
				if r.status != http.StatusFound || r.location != stepUp {
					t.Fatalf("got %d Location %q, want 302 to %s", r.status, r.location, stepUp)
				}
				r = v.do(http.MethodPost, gh+"/accounts/reauthenticate/", url.Values{"password": {userPassword}, "code": {added.Codes[0]}, "next": {target}})
				if r.status != http.StatusSeeOther || r.location != target {
					t.Fatalf("step-up: got %d Location %q, want 303 to %s", r.status, r.location, target)
				}
				if e := v.upstream(target); e.header("Remote-User") != "bob" {
					t.Errorf("after step-up: Remote-User %q", e.header("Remote-User"))
				}
			})
			t.Run("hostile next is not followed", func(t *testing.T) {
				for _, next := range []string{"//evil.test/", "http://evil.test/", fmt.Sprintf("http://app.example.test:%d@evil.test/", port),
					"http://app.example.test.evil/", "http://notexample.test/", "http://evil.test\\.example.test/", "https://app.example.test/"} {
					v := newVisitor(t)
					r := v.do(http.MethodPost, gh+"/accounts/login/", url.Values{"username": {"alice"}, "password": {userPassword}, "next": {next}})
					if r.status != http.StatusSeeOther || r.location != "/" {
						t.Errorf("next %q: got %d Location %q, want 303 to /", next, r.status, r.location)
					}
				}
			})
			t.Run("logout ends access to every app", func(t *testing.T) {
				alice.upstream(site("app", "/"))
				if r := alice.do(http.MethodPost, gh+"/accounts/logout/", url.Values{}); r.status != http.StatusSeeOther {
					t.Fatalf("logout: %d", r.status)
				}
				alice.wantLogin(gh, site("app", "/"))
				alice.wantLogin(gh, site("ops", "/"))
			})
		})
	}
}
