package main

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestLoadConfigMail covers the mail and reset settings: defaults, and bad
// values stopping start-up with a message that never echoes the SMTP
// password.
func TestLoadConfigMail(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.http.PasswordResetTimeout != time.Hour || c.smtpURL != "" {
		t.Errorf("got reset timeout %s, smtp %q; want 1h and console", c.http.PasswordResetTimeout, c.smtpURL)
	}
	c, err = loadConfig(envOf(map[string]string{"PASSWORD_RESET_TIMEOUT": "15m", "SMTP_URL": "smtps://u:p@mail.example.com", "MAIL_FROM": "Ops <ops@example.com>"}))
	if err != nil || c.http.PasswordResetTimeout != 15*time.Minute {
		t.Fatalf("got %v, %s", err, c.http.PasswordResetTimeout)
	}
	for name, env := range map[string]map[string]string{
		"PASSWORD_RESET_TIMEOUT": {"PASSWORD_RESET_TIMEOUT": "soon"},
		"MAIL_FROM":              {"MAIL_FROM": "not an address"},
		"SMTP_URL scheme":        {"SMTP_URL": "http://u:hunter2secret@host"},
		"SMTP_URL port":          {"SMTP_URL": "smtp://u:hunter2secret@host:99999"},
	} {
		_, err := loadConfig(envOf(env))
		if err == nil {
			t.Errorf("%s: got nil error, want one", name)
			continue
		}
		key := strings.Fields(name)[0]
		if !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q does not name %s", name, err, key)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: error echoes the SMTP password: %q", name, err)
		}
	}
}
