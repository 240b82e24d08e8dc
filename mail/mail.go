// Package mail is Gatehouse's outgoing e-mail and nothing else: a Mailer
// interface with a console and an SMTP implementation, a way to compose a
// message from templ components, and a background queue that retries. It is
// its own package so the HTTP layer can hand a message off and return, and
// so tests can swap the transport without touching handlers.
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	netmail "net/mail"
	"strings"

	"github.com/a-h/templ"
)

// Message is one e-mail to one recipient. Every message carries both a
// plain-text and an HTML part.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer delivers a message or reports why it could not. Implementations
// must be safe for concurrent use.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Compose renders a message from a text and an HTML component. templ
// HTML-escapes every expression and collapses whitespace, so text components
// emit each line as an expression ending in "\n" (see components/email.templ)
// and the output is unescaped here: templ's escaping is the inverse of
// html.UnescapeString, so user data such as "Tom & <Jerry>" comes out exactly
// as stored.
func Compose(ctx context.Context, to, subject string, text, htmlPart templ.Component) (Message, error) {
	var tb, hb bytes.Buffer
	if err := text.Render(ctx, &tb); err != nil {
		return Message{}, fmt.Errorf("render text part: %w", err)
	}
	if err := htmlPart.Render(ctx, &hb); err != nil {
		return Message{}, fmt.Errorf("render html part: %w", err)
	}
	return Message{To: to, Subject: subject, Text: plainLines(html.UnescapeString(tb.String())), HTML: hb.String()}, nil
}

// plainLines trims the spaces templ puts between the lines of a text part
// (it writes one between sibling calls inside an if block, which started
// lines with a space); the text parts indent nothing on purpose.
func plainLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Trim(l, " ")
	}
	return strings.Join(lines, "\n")
}

// New returns the mailer the configuration asks for: SMTP when smtpURL is
// set, else the console mailer writing to stdout.
func New(smtpURL, from string, stdout io.Writer) (Mailer, error) {
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %q is not an address such as \"Gatehouse <noreply@example.com>\"", from)
	}
	if strings.TrimSpace(smtpURL) == "" {
		return NewConsole(stdout, from), nil
	}
	return NewSMTP(smtpURL, from)
}

// errNoRecipient is returned for a message without an address.
var errNoRecipient = errors.New("mail: message has no recipient")
