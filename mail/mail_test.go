package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"gorm.io/gorm"

	"gatehouse/internal/dbwatch"
	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/mail/mailtest"
	"gatehouse/models"
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

// outboxFixture is an outbox on a fresh SQLite file with one user; writes
// counts every write to the file, on any connection.
type outboxFixture struct {
	db     *gorm.DB
	outbox *models.Outbox
	user   *models.User
	writes *dbwatch.Watch
}

func newOutboxFixture(t *testing.T) *outboxFixture {
	t.Helper()
	return newOutboxFixtureAt(t, filepath.Join(t.TempDir(), "outbox.db"))
}

// newOutboxFixtureAt is the fixture over the database at url: a fresh
// PostgreSQL database with TEST_DATABASE_URL (testdb.URL), where claims
// take FOR UPDATE SKIP LOCKED.
func newOutboxFixtureAt(t *testing.T, url string) *outboxFixture {
	t.Helper()
	w := dbwatch.New()
	db, err := models.Open(context.Background(), url, models.WithSQLiteConnectHook(w.Hook))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	hasher := passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
	u, err := models.NewUsers(db, hasher).Create(context.Background(), models.NewUser{Username: "bob", Email: "bob@example.test", Password: "bob's long password"})
	if err != nil {
		t.Fatal(err)
	}
	return &outboxFixture{db: db, outbox: models.NewOutbox(db), user: u, writes: w}
}

func (f *outboxFixture) notice(t *testing.T) {
	t.Helper()
	if err := f.outbox.Enqueue(context.Background(), models.KindPasswordChanged, &f.user.ID, f.user.Email,
		map[string]string{"username": f.user.Username, "when": time.Now().UTC().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
}

// run starts w until the returned stop is called; stop waits for Run.
func run(w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	return func() { cancel(); <-done }
}

func noJobs(context.Context, *models.OutboxMessage) error { return nil }

// TestWorkerRetriesThenDelivers: a server answering 451 twice gets the
// message on the third attempt, and the row is marked sent.
func TestWorkerRetriesThenDelivers(t *testing.T) {
	f := newOutboxFixture(t)
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(2)
	m, err := NewSMTP(srv.URL(), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, RetryFor: time.Minute})
	f.notice(t)
	stop := run(w)
	defer stop()
	got := srv.Next(t, 5*time.Second)
	if got.To[0] != "bob@example.test" || !strings.Contains(got.Subject, "password was changed") {
		t.Errorf("got %v %q", got.To, got.Subject)
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
}

// TestWorkerGivesUp: once RetryFor has passed since it was queued, the
// row stays, failed for good, with its error (never the body) — visible
// and countable; the back-off is capped at MaxBackoff, and the last
// attempt comes at the end of the period, not after it.
func TestWorkerGivesUp(t *testing.T) {
	f := newOutboxFixture(t)
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(1000)
	m, _ := NewSMTP(srv.URL(), testFrom)
	sw := &syncWriter{w: &bytes.Buffer{}}
	w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.NewTextHandler(sw, nil)),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, RetryFor: time.Second})
	start := time.Now()
	f.notice(t)
	stop := run(w)
	waitStats(t, f.outbox, models.OutboxStats{Failed: 1})
	took := time.Since(start)
	stop()
	if took < time.Second || took > 3*time.Second {
		t.Errorf("failed for good after %s, want just after RetryFor (1s)", took)
	}
	// 10, 20, 40, 80 ms, then every 100 ms up to 1 s: about 12 attempts;
	// without the cap, 10 ms doubling would try only 6 or 7 times.
	if n := strings.Count(sw.String(), "will retry"); n < 9 {
		t.Errorf("got %d retry log lines, want at least 9 (back-off capped at 100ms over 1s)", n)
	}
	failed, err := f.outbox.Failed(context.Background(), 10)
	if err != nil || len(failed) != 1 || failed[0].Attempts < 10 || failed[0].LastError == "" {
		t.Fatalf("failed rows: got %+v (%v), want one after about 12 attempts with its error", failed, err)
	}
	if failed[0].Recipient != "bob@example.test" {
		t.Errorf("failed row: got recipient %q, want bob@example.test", failed[0].Recipient)
	}
	if strings.Contains(sw.String(), "Every other session") {
		t.Error("logs contain the message body")
	}
}

// TestWorkerShutdownKeepsUnsent: a worker stopping with mail it could not
// send (the server is down) hands it to the next start; nothing is dropped,
// and the next worker sends each message once.
func TestWorkerShutdownKeepsUnsent(t *testing.T) {
	f := newOutboxFixture(t)
	down, _ := NewSMTP("smtp://127.0.0.1:1", testFrom) // nothing listens there
	w := NewWorker(f.outbox, down, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 50 * time.Millisecond})
	for range 5 {
		f.notice(t)
	}
	stop := run(w)
	time.Sleep(200 * time.Millisecond)
	stop()
	if s, _ := f.outbox.Stats(context.Background()); s.Pending != 5 || s.Sent != 0 {
		t.Fatalf("after a stop with the server down: got %+v, want 5 pending", s)
	}

	srv := mailtest.NewServer(t, mailtest.Options{})
	up, _ := NewSMTP(srv.URL(), testFrom)
	w = NewWorker(f.outbox, up, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond})
	stop = run(w)
	defer stop()
	waitStats(t, f.outbox, models.OutboxStats{Sent: 5})
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
	if got := srv.Accepted(); got != 5 {
		t.Fatalf("got %d messages accepted, want 5 (each once)", got)
	}
}

// resetLink returns the token of the reset link in a delivered mail.
func resetLink(t *testing.T, got mailtest.Message) string {
	t.Helper()
	link := regexp.MustCompile(`/accounts/reset/([A-Za-z0-9_-]{43})/`).FindStringSubmatch(got.Text)
	if link == nil {
		t.Fatalf("no reset link in %q", got.Text)
	}
	return link[1]
}

func (f *outboxFixture) resetMail(t *testing.T) {
	t.Helper()
	if err := f.outbox.Enqueue(context.Background(), models.KindPasswordReset, &f.user.ID, f.user.Email,
		map[string]string{"username": "bob", "ttl_seconds": "3600"}); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerIssuesTokenAtSend: a reset mail's token is made when it is
// sent (never stored in clear); a retried send carries the same link as
// the failed attempt (one token row, live), and a mail whose account
// changed address is dropped with the reason, not sent.
func TestWorkerIssuesTokenAtSend(t *testing.T) {
	f := newOutboxFixture(t)
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(1)
	m, _ := NewSMTP(srv.URL(), testFrom)
	w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond})
	f.resetMail(t)
	stop := run(w)
	defer stop()
	token := resetLink(t, srv.Next(t, 5*time.Second))
	hash, _ := models.TokenHash(token)
	var rows []models.OneTimeToken
	if err := f.db.Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].UsedAt != nil || rows[0].TokenHash != hash {
		t.Fatalf("tokens: got %+v, want one live token, the mailed one, for both attempts", rows)
	}
	var payloads []string
	f.db.Model(&models.OutboxMessage{}).Pluck("payload", &payloads)
	for _, p := range payloads {
		if strings.Contains(p, token) {
			t.Fatal("the token is stored in the outbox")
		}
	}

	// The account's address changes before the next mail goes out.
	f.db.Model(&models.User{}).Where("id = ?", f.user.ID).Update("email", "new@example.test")
	f.resetMail(t)
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1, Dropped: 1})
	srv.None(t, 100*time.Millisecond)
}

// TestSlowServerDuplicateCarriesSameLink: the mail server takes the
// message but answers after the send timeout, so the worker sends it
// again. Both copies carry the same link, which works once: the copy
// people click first is not dead.
func TestSlowServerDuplicateCarriesSameLink(t *testing.T) {
	for _, secret := range []string{"", strings.Repeat("k", 40)} {
		t.Run(map[bool]string{true: "random key per process", false: "key from SECRET_KEY"}[secret == ""], func(t *testing.T) {
			f := newOutboxFixtureAt(t, testdb.URL(t))
			f.outbox.SetSecret(secret)
			srv := mailtest.NewServer(t, mailtest.Options{})
			srv.AnswerLate(1, 2*time.Second)
			m, _ := NewSMTP(srv.URL(), testFrom)
			w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
				WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, SendTimeout: 300 * time.Millisecond})
			f.resetMail(t)
			stop := run(w)
			defer stop()
			first, second := resetLink(t, srv.Next(t, 5*time.Second)), resetLink(t, srv.Next(t, 5*time.Second))
			if first != second {
				t.Fatalf("the two copies carry different links (%s…, %s…), want the same", first[:6], second[:6])
			}
			waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
			hash, _ := models.TokenHash(first)
			tok, err := models.NewTokens(f.db).Check(context.Background(), models.PurposePasswordReset, hash)
			if err != nil || tok.UserID != f.user.ID {
				t.Fatalf("the mailed link: got %+v (%v), want a live reset token for bob", tok, err)
			}
		})
	}
}

// TestIdleOutboxDoesNotWrite: polling an outbox with nothing due opens no
// write transaction (on SQLite, BEGIN IMMEDIATE takes the one write lock
// every request that writes needs); a due message is still claimed, once,
// and sent.
func TestIdleOutboxDoesNotWrite(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	f.writes.Take()
	for range 5 {
		got, err := f.outbox.Claim(ctx, "test", 8, time.Minute)
		if err != nil || len(got) != 0 {
			t.Fatalf("claim on an empty outbox: got %d messages (%v), want none", len(got), err)
		}
	}
	if rows, txs := f.writes.Take(); len(rows) != 0 || txs != 0 {
		t.Errorf("5 claims with nothing due: got rows %v in %d write transactions, want no write", rows, txs)
	}

	// A message held by a live lease, or not yet due, is not claimable
	// either: still no write.
	f.notice(t)
	held, err := f.outbox.Claim(ctx, "test", 8, time.Minute)
	if err != nil || len(held) != 1 {
		t.Fatalf("claim of one due message: got %d (%v), want 1", len(held), err)
	}
	f.writes.Take()
	if got, err := f.outbox.Claim(ctx, "test", 8, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("claim while the only message is leased: got %d (%v), want none", len(got), err)
	}
	if rows, txs := f.writes.Take(); len(rows) != 0 || txs != 0 {
		t.Errorf("claim while the only message is leased: got rows %v in %d write transactions, want no write", rows, txs)
	}
	if err := f.outbox.MarkSent(ctx, &held[0]); err != nil {
		t.Fatal(err)
	}

	// A running worker polls every 10ms: idle, it writes nothing; given
	// mail, it claims and sends it.
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond})
	f.writes.Take()
	stop := run(w)
	defer stop()
	time.Sleep(200 * time.Millisecond) // some polls
	if rows, txs := f.writes.Take(); len(rows) != 0 || txs != 0 {
		t.Errorf("idle worker: got rows %v in %d write transactions, want no write", rows, txs)
	}
	f.notice(t)
	got := srv.Next(t, 5*time.Second)
	if got.To[0] != "bob@example.test" {
		t.Errorf("mail to %v, want bob@example.test", got.To)
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 2})
	if rows, _ := f.writes.Take(); rows["update outbox_messages"] < 2 {
		t.Errorf("worker with mail: got rows %v, want the claim and the sent mark on outbox_messages", rows)
	}
}

// waitStats waits until the outbox counts are want.
func waitStats(t *testing.T, o *models.Outbox, want models.OutboxStats) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := o.Stats(context.Background())
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: got %+v (%v), want %+v", got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaseRenewedWhileSending: a send that outlives the lease (the
// server stalls) keeps its claim, so a second instance does not take the
// message and send it again.
func TestLeaseRenewedWhileSending(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	opts := func(id string) WorkerOptions {
		return WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, SendTimeout: 5 * time.Second,
			Lease: 300 * time.Millisecond, InstanceID: id}
	}
	srv.Hold()
	f.notice(t)
	stop := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler), opts("a")))
	defer stop()
	time.Sleep(100 * time.Millisecond) // a has claimed it and is sending
	stop2 := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler), opts("b")))
	defer stop2()
	time.Sleep(time.Second) // three leases
	srv.Release()
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive by now
	if got := srv.Accepted(); got != 1 {
		t.Fatalf("got %d deliveries, want 1 (the lease held while the send ran)", got)
	}
}

// TestClaimChecks: a worker whose lease ran out and whose message another
// worker claimed may neither renew nor record a failure; if its mail went
// out, it marks it sent (and is told the claim was lost), so the new
// holder sees the row sent and does not send it again.
func TestClaimChecks(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	ctx := context.Background()
	f.notice(t)
	old, err := f.outbox.Claim(ctx, "a", 1, 50*time.Millisecond)
	if err != nil || len(old) != 1 {
		t.Fatalf("claim: got %d (%v), want 1", len(old), err)
	}
	time.Sleep(100 * time.Millisecond)
	cur, err := f.outbox.Claim(ctx, "b", 1, time.Minute)
	if err != nil || len(cur) != 1 {
		t.Fatalf("claim after the lease ran out: got %d (%v), want 1", len(cur), err)
	}
	if err := f.outbox.Renew(ctx, &old[0], time.Minute); !errors.Is(err, models.ErrClaimLost) {
		t.Errorf("renew by the old holder: got %v, want ErrClaimLost", err)
	}
	if err := f.outbox.MarkFailed(ctx, &old[0], errors.New("boom"), time.Time{}); !errors.Is(err, models.ErrClaimLost) {
		t.Errorf("mark failed by the old holder: got %v, want ErrClaimLost", err)
	}
	if s, _ := f.outbox.Stats(ctx); s.Failed != 0 || s.Pending != 1 {
		t.Fatalf("after the old holder's failure: got %+v, want still pending", s)
	}
	if err := f.outbox.Renew(ctx, &cur[0], time.Minute); err != nil {
		t.Fatalf("renew by the holder: %v", err)
	}
	if err := f.outbox.MarkSent(ctx, &old[0]); !errors.Is(err, models.ErrClaimLost) {
		t.Errorf("mark sent by the old holder: got %v, want ErrClaimLost (and the row marked sent)", err)
	}
	if err := f.outbox.Renew(ctx, &cur[0], time.Minute); !errors.Is(err, models.ErrClaimLost) {
		t.Errorf("renew by the holder once the row is sent: got %v, want ErrClaimLost (it must not send)", err)
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
}

// TestMarkSentRetried: a transient error when marking a delivered message
// sent is retried; the row is not left claimed to be sent again.
func TestMarkSentRetried(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	var failures atomic.Int32
	failures.Store(2)
	err := f.db.Callback().Update().Before("gorm:update").Register("test:fail_mark_sent", func(tx *gorm.DB) {
		if up, ok := tx.Statement.Dest.(map[string]any); ok && tx.Statement.Table == "outbox_messages" && up["sent_at"] != nil && failures.Add(-1) >= 0 {
			tx.AddError(errors.New("database is locked (test)"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	w := NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, Lease: 300 * time.Millisecond})
	f.notice(t)
	stop := run(w)
	defer stop()
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
	time.Sleep(600 * time.Millisecond) // two leases: a re-claimed row would be sent again by now
	if got := srv.Accepted(); got != 1 {
		t.Fatalf("got %d deliveries, want 1", got)
	}
}

// TestDropsMailOfGoneRecipient: a notice whose account was deleted, or
// whose account changed address after it was queued, is dropped with the
// reason and not retried; a notice meant for the former address is sent.
func TestDropsMailOfGoneRecipient(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	ctx := context.Background()
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	users := models.NewUsers(f.db, passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second))
	carol, err := users.Create(ctx, models.NewUser{Username: "carol", Email: "carol@example.test", Password: "carol's long password"})
	if err != nil {
		t.Fatal(err)
	}
	f.notice(t) // bob, who changes address
	if err := f.outbox.Enqueue(ctx, models.KindEmailChanged, &f.user.ID, f.user.Email, map[string]string{"username": "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := f.outbox.Enqueue(ctx, models.KindPasswordChanged, &carol.ID, carol.Email, map[string]string{"username": "carol"}); err != nil {
		t.Fatal(err)
	}
	f.db.Model(&models.User{}).Where("id = ?", f.user.ID).Update("email", "bob2@example.test")
	if err := f.db.Delete(&models.User{}, carol.ID).Error; err != nil {
		t.Fatal(err)
	}
	stop := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond}))
	defer stop()
	got := srv.Next(t, 5*time.Second)
	if got.To[0] != "bob@example.test" || !strings.Contains(got.Subject, "e-mail address was changed") {
		t.Errorf("got %v %q, want the address-changed notice to the former address", got.To, got.Subject)
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1, Dropped: 2})
	srv.None(t, 100*time.Millisecond)
	var reasons []string
	f.db.Model(&models.OutboxMessage{}).Where("dropped_at IS NOT NULL").Order("id").Pluck("last_error", &reasons)
	if len(reasons) != 2 || !strings.Contains(reasons[0], "address changed") || !strings.Contains(reasons[1], "deleted") {
		t.Errorf("got reasons %q, want the address change and the deletion", reasons)
	}
}

// TestRestartTakesBackOwnLeases: mail claimed by a killed instance goes
// out as soon as an instance with its ID starts again, not after the
// lease; another instance waits for the lease.
func TestRestartTakesBackOwnLeases(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	ctx := context.Background()
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	f.notice(t)
	if got, err := f.outbox.Claim(ctx, "web-1", 1, time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("claim by the instance then killed: got %d (%v)", len(got), err)
	}
	opts := func(id string) WorkerOptions {
		return WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, InstanceID: id}
	}
	stop := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler), opts("web-2")))
	srv.None(t, 300*time.Millisecond)
	stop()
	start := time.Now()
	stop = run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler), opts("web-1")))
	defer stop()
	srv.Next(t, 5*time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the restarted instance sent its mail after %s, want at once", took)
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
}

// TestFailedMailWaitsForRetry: a message failed for good is not sent
// when the server comes back, only once someone retries it; it then gets a
// fresh retry period.
func TestFailedMailWaitsForRetry(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	ctx := context.Background()
	srv := mailtest.NewServer(t, mailtest.Options{})
	srv.FailNext(1000)
	m, _ := NewSMTP(srv.URL(), testFrom)
	stop := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
		WorkerOptions{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, RetryFor: 300 * time.Millisecond}))
	defer stop()
	f.notice(t)
	waitStats(t, f.outbox, models.OutboxStats{Failed: 1})
	srv.FailNext(0)
	srv.None(t, 400*time.Millisecond)
	failed, err := f.outbox.List(ctx, true, 10)
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed list: got %d (%v), want 1", len(failed), err)
	}
	if n, err := f.outbox.Retry(ctx, []uint{failed[0].ID}, false); err != nil || n != 1 {
		t.Fatalf("retry: got %d (%v), want 1", n, err)
	}
	srv.Next(t, 5*time.Second)
	waitStats(t, f.outbox, models.OutboxStats{Sent: 1})
}

// TestWorkersShareOutbox: four instances working one outbox at once, two
// messages each at a time, send each of 30 messages exactly once.
func TestWorkersShareOutbox(t *testing.T) {
	f := newOutboxFixtureAt(t, testdb.URL(t))
	srv := mailtest.NewServer(t, mailtest.Options{})
	m, _ := NewSMTP(srv.URL(), testFrom)
	for range 30 {
		f.notice(t)
	}
	for i := range 4 {
		stop := run(NewWorker(f.outbox, m, noJobs, "http://example.test", slog.New(slog.DiscardHandler),
			WorkerOptions{Poll: 5 * time.Millisecond, Backoff: 10 * time.Millisecond, InstanceID: "web-" + strconv.Itoa(i)}))
		defer stop()
	}
	waitStats(t, f.outbox, models.OutboxStats{Sent: 30})
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
	if got := srv.Accepted(); got != 30 {
		t.Fatalf("got %d deliveries, want 30 (each once)", got)
	}
}
