package e2e

import (
	"encoding/base64"
	"net/smtp"
	"strings"
	"testing"
)

// The test SMTP server and the decoding the reset test relies on: a real
// client delivers a multipart message whose link is wrapped by
// quoted-printable soft line breaks and hidden in base64, as mailers do.
func TestMailboxReceivesAndDecodes(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	link := "http://127.0.0.1:8080/accounts/reset/" + strings.Repeat("abcdefghij", 8) + "/"
	qp := `<p><a href=3D"` + link[:60] + "=\r\n" + link[60:] + `">Reset</a></p>`
	b64 := base64.StdEncoding.EncodeToString([]byte("Follow " + link + " to reset.\r\n"))
	raw := "From: Gatehouse <webmaster@localhost>\r\n" +
		"To: alice@example.com\r\n" +
		"Subject: =?utf-8?q?Password_reset_on_Gatehouse?=\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64[:40] + "\r\n" + b64[40:] + "\r\n" +
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		qp + "\r\n--b1--\r\n"
	auth := smtp.PlainAuth("", "user", "secret", "127.0.0.1")
	if err := smtp.SendMail(mb.addr, auth, "webmaster@localhost", []string{"alice@example.com"}, []byte(raw)); err != nil {
		t.Fatalf("send: %v", err)
	}

	m := mb.waitFor(t, "alice@example.com")
	if m.From != "webmaster@localhost" {
		t.Errorf("envelope from: got %q, want webmaster@localhost", m.From)
	}
	subject, body := m.text(t)
	if subject != "Password reset on Gatehouse" {
		t.Errorf("subject: got %q, want %q", subject, "Password reset on Gatehouse")
	}
	if got := linkTo(t, body, "/accounts/reset/"); got != link {
		t.Errorf("link: got %q, want %q", got, link)
	}
	if strings.Count(body, link) != 2 {
		t.Errorf("body: got %d whole copies of the link, want 2 (text and HTML parts):\n%s", strings.Count(body, link), body)
	}
}
