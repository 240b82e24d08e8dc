package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends through an SMTP server named by a URL:
//
//	smtp://[user:pass@]host[:port]   plain, upgraded with STARTTLS when offered (port 25)
//	smtps://[user:pass@]host[:port]  implicit TLS (port 465)
//
// Credentials use PLAIN authentication, which the client refuses over an
// unencrypted connection except to localhost, so a stripped STARTTLS cannot
// leak the password.
type SMTP struct {
	host     string
	port     int
	implicit bool
	user     string
	pass     string
	from     string
	timeout  time.Duration
	// tlsConfig, when set, replaces the default verification settings
	// (tests use it to trust their own certificate).
	tlsConfig *tls.Config
}

// NewSMTP parses rawURL (see SMTP) and returns a mailer sending as from.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL: want smtp://user:pass@host:port or smtps://user:pass@host:port")
	}
	s := &SMTP{host: u.Hostname(), from: from, timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
		s.port = 25
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("SMTP_URL: unsupported scheme %q (want smtp or smtps)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("SMTP_URL: bad port %q", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

func (s *SMTP) options(dial gomail.DialContextFunc) []gomail.Option {
	tc := s.tlsConfig
	if tc == nil {
		tc = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(tc),
		gomail.WithDialContextFunc(dial),
	}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	return opts
}

// Send delivers m over a fresh connection: mail is rare enough that a pool
// would only hold idle connections open.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if m.To == "" {
		return errNoRecipient
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	// go-mail honours ctx only while dialling; the connection is closed
	// when ctx ends, so an attempt never outlives its deadline (a server
	// that answers late or not at all).
	var conns []net.Conn
	var mu sync.Mutex
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.implicit {
			tc := s.tlsConfig
			if tc == nil {
				tc = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
			}
			tconn := tls.Client(conn, tc)
			if err := tconn.HandshakeContext(dctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tconn
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		return conn, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	defer stop()
	c, err := gomail.NewClient(s.host, s.options(dial)...)
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return fmt.Errorf("mail: send via %s:%d: %w", s.host, s.port, err)
	}
	return nil
}
