package e2e

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server on 127.0.0.1 that keeps every message it
// accepts, so a test can read the e-mail the app sent.
type mailbox struct {
	addr string

	mu       sync.Mutex
	messages []message
	arrived  chan struct{} // signalled on each delivery
}

// message is one delivered e-mail.
type message struct {
	From string
	To   []string
	Raw  []byte
}

// startMailbox starts the SMTP server for the test's lifetime. It accepts
// AUTH PLAIN with any credentials over plain text, as a local relay would.
func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{arrived: make(chan struct{}, 64)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{mb: mb}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

// URL is the SMTP_URL form of the server's address.
func (mb *mailbox) URL() string { return "smtp://" + mb.addr }

// waitFor returns the first message to rcpt, waiting up to actionTimeout.
func (mb *mailbox) waitFor(t *testing.T, rcpt string) message {
	t.Helper()
	deadline := time.After(actionTimeout)
	for {
		mb.mu.Lock()
		for _, m := range mb.messages {
			for _, to := range m.To {
				if strings.EqualFold(to, rcpt) {
					mb.mu.Unlock()
					return m
				}
			}
		}
		n := len(mb.messages)
		mb.mu.Unlock()
		select {
		case <-mb.arrived:
		case <-deadline:
			t.Fatalf("no e-mail to %s within %s (%d other message(s) arrived); is the app's mailer wired "+
				"(wireMail) and its background work running (startBackground)?", rcpt, actionTimeout, n)
		}
	}
}

type mailSession struct {
	mb   *mailbox
	from string
	to   []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.messages = append(s.mb.messages, message{From: s.from, To: s.to, Raw: raw})
	s.mb.mu.Unlock()
	select {
	case s.mb.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (s *mailSession) Reset() { s.from, s.to = "", nil }

func (s *mailSession) Logout() error { return nil }

// text returns the message's headers' subject and its decoded text parts
// (plain and HTML, quoted-printable or base64), joined.
func (m message) text(t *testing.T) (subject, body string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("parse e-mail: %v\n%s", err, m.Raw)
	}
	dec := new(mime.WordDecoder)
	subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	var parts []string
	if err := collectText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &parts); err != nil {
		t.Fatalf("decode e-mail body: %v\n%s", err, m.Raw)
	}
	return subject, strings.Join(parts, "\n")
}

func collectText(contentType, encoding string, r io.Reader, out *[]string) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: r})
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := collectText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, out); err != nil {
				return err
			}
		}
	}
	if strings.HasPrefix(mt, "text/") {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		*out = append(*out, string(b))
	}
	return nil
}

// newlineStripper drops CR and LF so base64 bodies wrapped at 76 columns
// decode.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// linkTo returns the first http(s) link in body whose path starts with
// prefix (e.g. "/accounts/reset/"), HTML entities for & undone.
func linkTo(t *testing.T, body, prefix string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s"'<>]+` + regexp.QuoteMeta(prefix) + `[^\s"'<>]*`)
	link := re.FindString(body)
	if link == "" {
		t.Fatalf("no link to %s… in the e-mail:\n%s", prefix, body)
	}
	return strings.ReplaceAll(link, "&amp;", "&")
}
