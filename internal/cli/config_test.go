package cli

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers"
	"gatehouse/internal/settings"
	"gatehouse/models"
)

func TestLoadConfigThrottle(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	c, err := loadServeConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.LoginLimitPerUserIP != settings.DefaultLoginLimitPerUserIP || c.LoginLimitPerIP != settings.DefaultLoginLimitPerIP {
		t.Fatalf("got defaults %v and %v, want %v and %v", c.LoginLimitPerUserIP, c.LoginLimitPerIP,
			settings.DefaultLoginLimitPerUserIP, settings.DefaultLoginLimitPerIP)
	}
	if c.DatabaseTimeout != models.DefaultBusyTimeout || c.ThrottleBlock != time.Minute || c.ThrottleMaxBlock != time.Hour {
		t.Fatalf("got busy %v, block %v, max block %v, want 5s, 1m, 1h", c.DatabaseTimeout, c.ThrottleBlock, c.ThrottleMaxBlock)
	}
	c, err = loadServeConfig(env(map[string]string{"LOGIN_LIMIT_PER_USER_IP": "10/1h", "LOGIN_LIMIT_PER_IP": "off", "THROTTLE_BLOCK": "30s"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.LoginLimitPerUserIP; got.Max != 10 || got.Window != time.Hour {
		t.Fatalf("got %+v, want 10 per 1h", got)
	}
	if c.LoginLimitPerIP.Enabled() || c.ThrottleBlock != 30*time.Second {
		t.Fatalf("got per-IP %v and block %v, want off and 30s", c.LoginLimitPerIP, c.ThrottleBlock)
	}
	for k, v := range map[string]string{
		"LOGIN_LIMIT_PER_USER_IP": "5", "LOGIN_LIMIT_PER_IP": "0/15m", "THROTTLE_MAX_BLOCK": "-1s", "DATABASE_BUSY_TIMEOUT": "soon",
	} {
		if _, err := loadServeConfig(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: got error %v, want one naming %s", k, v, err, k)
		}
	}
	if c.Outbox.RetryFor != 24*time.Hour || c.Outbox.MaxBackoff != 5*time.Minute {
		t.Errorf("got MAIL_RETRY_FOR %v, MAIL_RETRY_MAX_INTERVAL %v, want 24h and 5m", c.Outbox.RetryFor, c.Outbox.MaxBackoff)
	}
	c, err = loadServeConfig(env(map[string]string{"MAIL_RETRY_FOR": "3s", "MAIL_RETRY_MAX_INTERVAL": "1s", "INSTANCE_ID": "web-1"}))
	if err != nil || c.Outbox.RetryFor != 3*time.Second || c.Outbox.MaxBackoff != time.Second || c.Outbox.InstanceID != "web-1" {
		t.Errorf("short mail retry settings: got %v, %v, %q (%v), want 3s, 1s, web-1", c.Outbox.RetryFor, c.Outbox.MaxBackoff, c.Outbox.InstanceID, err)
	}
	for k, v := range map[string]string{"MAIL_RETRY_FOR": "0s", "MAIL_RETRY_MAX_INTERVAL": "5", "INSTANCE_ID": "web 1"} {
		if _, err := loadServeConfig(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: got error %v, want one naming %s", k, v, err, k)
		}
	}
	if _, err := loadServeConfig(env(map[string]string{"THROTTLE_BLOCK": "2h", "THROTTLE_MAX_BLOCK": "1h"})); err == nil {
		t.Error("THROTTLE_MAX_BLOCK shorter than THROTTLE_BLOCK: got no error")
	}
}

func TestLoadConfigResetAndSignupLimits(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	c, err := loadServeConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	defaults := []struct {
		key       string
		got, want models.Limit
	}{
		{"PASSWORD_RESET_LIMIT_PER_EMAIL", c.PasswordResetLimitPerEmail, settings.DefaultPasswordResetLimitPerEmail},
		{"PASSWORD_RESET_LIMIT_PER_IP", c.PasswordResetLimitPerIP, settings.DefaultPasswordResetLimitPerIP},
		{"SIGNUP_LIMIT_PER_IP", c.SignupLimitPerIP, settings.DefaultSignupLimitPerIP},
		{"SIGNUP_CHECK_LIMIT_PER_IP", c.SignupCheckLimitPerIP, settings.DefaultSignupCheckLimitPerIP},
	}
	for _, d := range defaults {
		if d.got != d.want {
			t.Errorf("%s default: got %v, want %v", d.key, d.got, d.want)
		}
	}
	if got := settings.DefaultPasswordResetLimitPerEmail.String() + " " + settings.DefaultPasswordResetLimitPerIP.String() + " " +
		settings.DefaultSignupLimitPerIP.String() + " " + settings.DefaultSignupCheckLimitPerIP.String(); got != "3/1h0m0s 20/1h0m0s 10/1h0m0s 300/15m0s" {
		t.Errorf("got defaults %s, want the documented 3/1h 20/1h 10/1h 300/15m", got)
	}
	c, err = loadServeConfig(env(map[string]string{
		"PASSWORD_RESET_LIMIT_PER_EMAIL": "5/30m", "PASSWORD_RESET_LIMIT_PER_IP": "off",
		"SIGNUP_LIMIT_PER_IP": "100/24h", "SIGNUP_CHECK_LIMIT_PER_IP": " 50 / 1m ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		got  models.Limit
		want string
	}{
		{"PASSWORD_RESET_LIMIT_PER_EMAIL", c.PasswordResetLimitPerEmail, "5/30m0s"},
		{"PASSWORD_RESET_LIMIT_PER_IP", c.PasswordResetLimitPerIP, "off"},
		{"SIGNUP_LIMIT_PER_IP", c.SignupLimitPerIP, "100/24h0m0s"},
		{"SIGNUP_CHECK_LIMIT_PER_IP", c.SignupCheckLimitPerIP, "50/1m0s"},
	} {
		if tc.got.String() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.key, tc.got, tc.want)
		}
	}
	for _, k := range []string{"PASSWORD_RESET_LIMIT_PER_EMAIL", "PASSWORD_RESET_LIMIT_PER_IP", "SIGNUP_LIMIT_PER_IP", "SIGNUP_CHECK_LIMIT_PER_IP"} {
		for _, v := range []string{"3", "0/1h", "3/forever", "-1/1h"} {
			if _, err := loadServeConfig(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: got error %v, want one naming %s", k, v, err, k)
			}
		}
	}
}

// TestLoadConfigLogFormat: LOG_FORMAT picks text (logfmt) or JSON lines;
// anything else stops start-up naming the variable.
func TestLoadConfigLogFormat(t *testing.T) {
	cases := []struct {
		value, want string // want "" means an error
		line        *regexp.Regexp
	}{
		{"", "text", regexp.MustCompile(`^time=\S+ level=INFO msg=hello request_id=abc-123\n$`)},
		{"text", "text", regexp.MustCompile(`^time=\S+ level=INFO msg=hello request_id=abc-123\n$`)},
		{"json", "json", regexp.MustCompile(`^\{"time":"[^"]+","level":"INFO","msg":"hello","request_id":"abc-123"\}\n$`)},
		{" JSON ", "json", regexp.MustCompile(`^\{"time":.*"request_id":"abc-123"\}\n$`)},
		{"xml", "", nil},
		{"logfmt", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			c, err := loadConfig(func(k string) string {
				if k == "LOG_FORMAT" {
					return tc.value
				}
				return ""
			})
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
					t.Fatalf("LOG_FORMAT=%q: got error %v, want one naming LOG_FORMAT", tc.value, err)
				}
				return
			}
			if err != nil || c.LogFormat != tc.want {
				t.Fatalf("LOG_FORMAT=%q: got %q, %v, want %q", tc.value, c.LogFormat, err, tc.want)
			}
			var buf bytes.Buffer
			// A line logged with a request's context carries its ID.
			ctx := handlers.WithRequestID(context.Background(), "abc-123")
			newLogger(&buf, c).InfoContext(ctx, "hello")
			if !tc.line.MatchString(buf.String()) {
				t.Fatalf("got log line %q, want it to match %s", buf.String(), tc.line)
			}
		})
	}
}

// loadServeConfig loads what serve loads: every command's variables and
// the server's.
func loadServeConfig(getenv func(string) string) (config, error) {
	c, err := loadConfig(getenv)
	return c, errors.Join(err, loadServerConfig(getenv, &c))
}
