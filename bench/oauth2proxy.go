package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// oauth2-proxy beside the ceiling: the tool people put in front of apps
// today, asked the same question as Gatehouse's forward auth (is this
// cookie signed in?) on its /oauth2/auth. It signs a person in from an
// htpasswd file without any provider, and its session is a stateless
// encrypted cookie, so a check reads no database: its figure is what a
// check costs without a session store. The binary is not a Go module
// dependency of Gatehouse: `.ci/run` installs v7.15.6 with go install, and
// the bench finds it through OAUTH2_PROXY or PATH (and skips the scenario,
// saying so, without it).

const oauth2ProxyEnv = "OAUTH2_PROXY"

// oauth2ProxyUser signs in to oauth2-proxy through its htpasswd form.
const (
	oauth2ProxyUser     = "bench"
	oauth2ProxyPassword = "bench-password"
)

// findOAuth2Proxy returns the oauth2-proxy binary to run, or "" with the
// reason it is absent.
func findOAuth2Proxy() (string, string) {
	if p := os.Getenv(oauth2ProxyEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("%s=%s: %v", oauth2ProxyEnv, p, err)
		}
		return p, ""
	}
	p, err := exec.LookPath("oauth2-proxy")
	if err != nil {
		return "", "oauth2-proxy is not on PATH and " + oauth2ProxyEnv + " is unset"
	}
	return p, ""
}

// startOAuth2Proxy runs bin on a free loopback port with htpasswd sign-in
// and a static upstream, waits for its /ping, and signs in once: it
// returns the server and the session cookie ("name=value").
func startOAuth2Proxy(ctx context.Context, bin, dir string) (*server, string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(oauth2ProxyPassword), bcrypt.MinCost)
	if err != nil {
		return nil, "", err
	}
	htpasswd := filepath.Join(dir, "oauth2-proxy.htpasswd")
	if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", oauth2ProxyUser, hash), 0o600); err != nil {
		return nil, "", err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin,
		"--http-address="+addr,
		"--upstream=static://200",
		"--htpasswd-file="+htpasswd,
		// Its Google provider is configured but never asked: sign-in is
		// the htpasswd form.
		"--client-id=bench", "--client-secret=bench",
		"--email-domain=*",
		"--cookie-secret=0123456789abcdef0123456789abcdef",
		"--cookie-secure=false",
		// As the app's servers here (LOG_LEVEL=warn): no line per request.
		"--request-logging=false", "--auth-logging=false", "--silence-ping-logging")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	s := &server{cmd: cmd, addr: addr, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	out := &lockedWriter{w: s.stderr}
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start oauth2-proxy: %w", err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for {
		res, err := client.Get("http://" + addr + "/ping")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, "", fmt.Errorf("oauth2-proxy exited during start-up: %v\n%s", s.waitErr, s.stderrTail())
		case <-ctx.Done():
			_ = s.stop()
			return nil, "", ctx.Err()
		default:
		}
		if time.Since(t0) > 30*time.Second {
			_ = s.stop()
			return nil, "", fmt.Errorf("oauth2-proxy not answering /ping after 30s (last error %v)\n%s", err, s.stderrTail())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.started = time.Since(t0)
	form := url.Values{"username": {oauth2ProxyUser}, "password": {oauth2ProxyPassword}}
	res, err := client.PostForm("http://"+addr+"/oauth2/sign_in", form)
	if err != nil {
		_ = s.stop()
		return nil, "", fmt.Errorf("oauth2-proxy sign-in: %w", err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "_oauth2_proxy" && c.Value != "" {
			return s, c.Name + "=" + c.Value, nil
		}
	}
	_ = s.stop()
	return nil, "", fmt.Errorf("oauth2-proxy sign-in: got %d without a session cookie\n%s", res.StatusCode, s.stderrTail())
}

// wantOAuth2ProxyAuth checks that /oauth2/auth accepts the cookie (202)
// and refuses a request without it (401): the scenario measures the
// signed-in check, not a refusal.
func wantOAuth2ProxyAuth(cookie string) func(addr string, _ *seeded) error {
	return func(addr string, _ *seeded) error {
		for _, c := range []struct {
			cookie string
			want   int
		}{{cookie, http.StatusAccepted}, {"", http.StatusUnauthorized}} {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/oauth2/auth", nil)
			if err != nil {
				return err
			}
			if c.cookie != "" {
				req.Header.Set("Cookie", c.cookie)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				return fmt.Errorf("GET /oauth2/auth (cookie %t): got %d, want %d", c.cookie != "", res.StatusCode, c.want)
			}
			if c.cookie != "" && !strings.EqualFold(res.Header.Get("Gap-Auth"), oauth2ProxyUser) {
				return errors.New("GET /oauth2/auth: no Gap-Auth header naming the signed-in user")
			}
		}
		return nil
	}
}
