package mail

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"gatehouse/mail/mailtest"
)

const testFrom = "Gatehouse <noreply@example.test>"

func testMessage(to string) Message {
	return Message{To: to, Subject: "Hello ünïcode", Text: "Line one\nhttps://example.test/x?a=1&b=2\n", HTML: "<p>Line one</p>"}
}

// TestSMTP sends through each transport the SMTP_URL can name to a real
// server on 127.0.0.1 and reads both parts back.
func TestSMTP(t *testing.T) {
	cases := []struct {
		name string
		opts mailtest.Options
	}{
		{"plain", mailtest.Options{Mode: mailtest.Plain}},
		{"plain with auth on localhost", mailtest.Options{Mode: mailtest.Plain, Username: "u", Password: "p@ss:word"}},
		{"starttls with auth", mailtest.Options{Mode: mailtest.StartTLS, Username: "u", Password: "secret"}},
		{"implicit tls with auth", mailtest.Options{Mode: mailtest.Implicit, Username: "u", Password: "secret"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tc.opts)
			rawURL := srv.URL()
			if tc.opts.Password != "" {
				// Passwords with reserved characters are percent-encoded.
				rawURL = strings.Replace(rawURL, tc.opts.Password, strings.ReplaceAll(strings.ReplaceAll(tc.opts.Password, "@", "%40"), ":", "%3A"), 1)
			}
			m, err := NewSMTP(rawURL, testFrom)
			if err != nil {
				t.Fatal(err)
			}
			if srv.RootCAs != nil {
				m.tlsConfig = tlsConfigFor(m.host, srv.RootCAs)
			}
			if err := m.Send(context.Background(), testMessage("bob@example.test")); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := srv.Next(t, 5*time.Second)
			if wantTLS := tc.opts.Mode != mailtest.Plain; got.TLS != wantTLS {
				t.Errorf("got TLS %v, want %v", got.TLS, wantTLS)
			}
			if got.Subject != "Hello ünïcode" {
				t.Errorf("got subject %q, want %q", got.Subject, "Hello ünïcode")
			}
			if len(got.To) != 1 || got.To[0] != "bob@example.test" {
				t.Errorf("got recipients %v, want [bob@example.test]", got.To)
			}
			if !strings.Contains(got.Text, "https://example.test/x?a=1&b=2") {
				t.Errorf("text part lost the link: %q", got.Text)
			}
			if !strings.Contains(got.HTML, "<p>Line one</p>") {
				t.Errorf("html part: got %q", got.HTML)
			}
			if !strings.Contains(got.Header.Get("From"), "noreply@example.test") {
				t.Errorf("got From %q, want MAIL_FROM", got.Header.Get("From"))
			}
		})
	}
}

// TestSMTPRefusesWrongCertificate: TLS is verified, not just encrypted.
func TestSMTPRefusesWrongCertificate(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{Mode: mailtest.Implicit})
	m, err := NewSMTP(srv.URL(), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	m.timeout = 3 * time.Second
	if err := m.Send(context.Background(), testMessage("bob@example.test")); err == nil {
		t.Fatal("got nil error sending to a self-signed server without trusting it, want a certificate error")
	}
}

func TestNewSMTPRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{"http://host", "smtp://", "smtp://host:0", "smtp://host:99999", "smtp://host:abc", "::"} {
		if _, err := NewSMTP(raw, testFrom); err == nil {
			t.Errorf("NewSMTP(%q): got nil error, want one", raw)
		}
	}
	for raw, want := range map[string]int{"smtp://h": 25, "smtps://h": 465, "smtp://h:2525": 2525} {
		m, err := NewSMTP(raw, testFrom)
		if err != nil {
			t.Fatalf("NewSMTP(%q): %v", raw, err)
		}
		if m.port != want {
			t.Errorf("NewSMTP(%q): got port %d, want %d", raw, m.port, want)
		}
	}
}

func TestNewPicksConsoleOrSMTP(t *testing.T) {
	var buf bytes.Buffer
	m, err := New("", testFrom, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*Console); !ok {
		t.Fatalf("got %T, want *Console when SMTP_URL is empty", m)
	}
	m, err = New("smtps://u:p@mail.example.test", testFrom, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*SMTP); !ok {
		t.Fatalf("got %T, want *SMTP", m)
	}
	if _, err := New("", "not an address", &buf); err == nil {
		t.Fatal("got nil error for a bad MAIL_FROM, want one")
	}
}

func TestConsolePrintsBothParts(t *testing.T) {
	var buf bytes.Buffer
	if err := NewConsole(&buf, testFrom).Send(context.Background(), testMessage("bob@example.test")); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"To: bob@example.test", "Subject: Hello ünïcode", "From: " + testFrom,
		"--- text/plain ---\nLine one\nhttps://example.test/x?a=1&b=2", "--- text/html ---\n<p>Line one</p>"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
}

// TestComposeTextIsExact: templ escapes HTML; the text part must show user
// data exactly, while the HTML part stays escaped.
func TestComposeTextIsExact(t *testing.T) {
	name := `Tom & "Jerry" <b>'x'</b> &amp;`
	text := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, templ.EscapeString("Hello "+name)+"\n")
		return err
	})
	html := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "<p>"+templ.EscapeString(name)+"</p>")
		return err
	})
	m, err := Compose(context.Background(), "a@example.test", "s", text, html)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Hello " + name + "\n"; m.Text != want {
		t.Errorf("got text %q, want %q", m.Text, want)
	}
	if strings.Contains(m.HTML, "<b>") {
		t.Errorf("html part not escaped: %q", m.HTML)
	}
}

// TestQueueRetriesThenDelivers: a server answering 451 twice gets the
// message on the third attempt.
func TestQueueRetriesThenDelivers(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(2)
	m, err := NewSMTP(srv.URL(), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	q := NewQueue(m, slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)), QueueOptions{Backoff: 10 * time.Millisecond, Attempts: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	if err := q.Enqueue(testMessage("bob@example.test")); err != nil {
		t.Fatal(err)
	}
	got := srv.Next(t, 5*time.Second)
	if got.To[0] != "bob@example.test" {
		t.Errorf("got recipient %v", got.To)
	}
	cancel()
	<-done
}

// TestQueueGivesUp: after Attempts failures the message is dropped and the
// failure logged, without the body.
func TestQueueGivesUp(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(100)
	m, _ := NewSMTP(srv.URL(), testFrom)
	sw := &syncWriter{w: &bytes.Buffer{}}
	q := NewQueue(m, slog.New(slog.NewTextHandler(sw, nil)), QueueOptions{Backoff: time.Millisecond, Attempts: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	msg := testMessage("bob@example.test")
	msg.Text = "secret-link-token"
	_ = q.Enqueue(msg)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sw.String(), "giving up") {
		if time.Now().After(deadline) {
			t.Fatalf("no give-up log line; logs:\n%s", sw.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := strings.Count(sw.String(), "will retry"); n != 2 {
		t.Errorf("got %d retry log lines, want 2", n)
	}
	if strings.Contains(sw.String(), "secret-link-token") {
		t.Error("logs contain the message body")
	}
}

// TestQueueDrainsOnShutdown: messages queued when the server stops are still
// sent before Run returns.
func TestQueueDrainsOnShutdown(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	q := NewQueue(m, slog.New(slog.DiscardHandler), QueueOptions{Workers: 1})
	for i := range 5 {
		if err := q.Enqueue(testMessage("user" + string(rune('a'+i)) + "@example.test")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already shutting down when Run starts
	q.Run(ctx)
	if got := srv.Accepted(); got != 5 {
		t.Fatalf("got %d messages accepted before Run returned, want 5", got)
	}
	if err := q.Enqueue(testMessage("late@example.test")); err != ErrQueueStopped {
		t.Fatalf("enqueue after stop: got %v, want ErrQueueStopped", err)
	}
}
