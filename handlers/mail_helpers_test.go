package handlers

import (
	"regexp"
	"strings"
	"testing"

	"gatehouse/mail"
	"gatehouse/mail/mailtest"
)

// withSMTP starts a real SMTP server on 127.0.0.1 and returns it with the
// newTestServer option that sends the app's mail there.
func withSMTP(t *testing.T) (*mailtest.Server, func(*Config)) {
	t.Helper()
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, err := mail.NewSMTP(srv.URL(), "Gatehouse <noreply@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	return srv, func(c *Config) { c.Mailer = m }
}

var resetLinkRE = regexp.MustCompile(`http://example\.test(/accounts/reset/[A-Za-z0-9_-]+/)`)

// resetPath reads the reset link out of a delivered message's text part,
// checks the HTML part carries the same link, and returns its path.
func resetPath(t *testing.T, m mailtest.Message) string {
	t.Helper()
	if m.Text == "" || m.HTML == "" {
		t.Fatalf("got text part %d bytes, html part %d bytes; want both", len(m.Text), len(m.HTML))
	}
	match := resetLinkRE.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("no reset link in text part:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+match[0]+`"`) {
		t.Fatalf("html part lacks the link %s:\n%s", match[0], m.HTML)
	}
	return match[1]
}
