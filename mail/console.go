package mail

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Console writes each message to a writer instead of sending it, like
// Django's console e-mail backend: `go run .` works with no mail server, and
// a developer can follow reset links from the terminal.
type Console struct {
	mu   sync.Mutex
	w    io.Writer
	from string
}

// NewConsole returns a console mailer writing to w with from as sender.
func NewConsole(w io.Writer, from string) *Console { return &Console{w: w, from: from} }

// Send prints m: headers, the text part, then the HTML part.
func (c *Console) Send(_ context.Context, m Message) error {
	if m.To == "" {
		return errNoRecipient
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nDate: %s\n", c.from, m.To, m.Subject, time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "\n--- text/plain ---\n%s\n--- text/html ---\n%s\n", strings.TrimRight(m.Text, "\n"), m.HTML)
	b.WriteString(strings.Repeat("-", 72) + "\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, b.String())
	return err
}
