package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/components"
	"gatehouse/models"
)

// WorkerOptions tune a Worker; zero values take the defaults.
type WorkerOptions struct {
	// Poll is how often the outbox is looked at when nothing woke the
	// worker (default 1s); work queued by this process wakes it at once.
	Poll time.Duration
	// Batch is how many messages one claim takes (default 8).
	Batch int
	// Attempts is how often a message is tried in all (default 6).
	Attempts int
	// Backoff is the wait after the first failure; it doubles after each
	// further failure (default 2s: 2s, 4s, 8s …), capped at an hour.
	Backoff time.Duration
	// SendTimeout bounds one attempt (default 30s).
	SendTimeout time.Duration
	// DrainTimeout bounds how long Run keeps sending what it holds after
	// its context ends (default 10s); the rest stays for the next start.
	DrainTimeout time.Duration
	// OnFailure, when set, is told of every failed attempt (for metrics).
	OnFailure func()
}

func (o *WorkerOptions) setDefaults() {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
}

// Worker drains the outbox (models.Outbox): it claims due messages, runs
// jobs (a reset request: the account look-up), renders mails from their
// kind and payload — issuing a one-time token at send time for the ones
// that carry a link — sends them with retries and back-off, and marks them
// sent or failed for good. Several workers, in one process or many, share
// one outbox safely: claims are leases taken by a conditional write.
type Worker struct {
	outbox  *models.Outbox
	mailer  Mailer
	jobs    func(context.Context, *models.OutboxMessage) error
	baseURL string
	log     *slog.Logger
	opts    WorkerOptions
}

// NewWorker returns a worker sending through m. jobs runs the outbox rows
// that are work rather than mail (models.Accounts.ProcessResetRequest);
// baseURL starts every link in a mail.
func NewWorker(outbox *models.Outbox, m Mailer, jobs func(context.Context, *models.OutboxMessage) error, baseURL string, log *slog.Logger, opts WorkerOptions) *Worker {
	opts.setDefaults()
	return &Worker{outbox: outbox, mailer: m, jobs: jobs, baseURL: strings.TrimRight(baseURL, "/"), log: log, opts: opts}
}

// Run works the outbox until ctx ends. Then it finishes the messages it
// holds (within DrainTimeout) and hands back the ones it did not start, so
// nothing is dropped: unsent rows wait for the next start.
func (w *Worker) Run(ctx context.Context) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.opts.DrainTimeout, cancel) })
	defer stop()
	lease := w.opts.SendTimeout + w.opts.DrainTimeout + 15*time.Second
	t := time.NewTicker(w.opts.Poll)
	defer t.Stop()
	for {
		batch, err := w.outbox.Claim(ctx, w.opts.Batch, lease)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("claim outbox", "err", err)
		}
		w.work(ctx, hard, batch)
		if len(batch) == w.opts.Batch && ctx.Err() == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-w.outbox.Wake():
		case <-t.C:
		}
	}
}

// work processes a claimed batch, two at a time. Once ctx has ended,
// messages not yet started are released for the next start.
func (w *Worker) work(ctx, hard context.Context, batch []models.OutboxMessage) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i := range batch {
		m := &batch[i]
		if ctx.Err() != nil {
			if err := w.outbox.Release(hard, m); err != nil {
				w.log.Warn("release outbox message", "id", m.ID, "err", err)
			}
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w.process(hard, m)
		})
	}
	wg.Wait()
}

// process does one message and records the outcome. Logs name the kind
// and ID only: bodies hold links.
func (w *Worker) process(ctx context.Context, m *models.OutboxMessage) {
	var err error
	if m.Kind == models.KindResetRequest {
		err = w.jobs(ctx, m)
	} else {
		err = w.send(ctx, m)
	}
	if err == nil {
		if m.Kind != models.KindResetRequest {
			if err := w.outbox.MarkSent(ctx, m); err != nil {
				w.log.Error("mark outbox message sent", "id", m.ID, "kind", m.Kind, "err", err)
			}
		}
		w.log.Debug("outbox message done", "id", m.ID, "kind", m.Kind, "attempt", m.Attempts)
		return
	}
	if w.opts.OnFailure != nil {
		w.opts.OnFailure()
	}
	retry := time.Time{}
	if m.Attempts < w.opts.Attempts && !errors.Is(err, models.ErrRecipientGone) && !errors.Is(err, errUnknownKind) {
		wait := w.opts.Backoff << min(m.Attempts-1, 20)
		retry = time.Now().Add(min(wait, time.Hour))
		w.log.Warn("outbox message failed; will retry", "id", m.ID, "kind", m.Kind, "attempt", m.Attempts, "retry_at", retry.UTC().Format(time.RFC3339), "err", err)
	} else {
		w.log.Error("outbox message failed for good", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "err", err)
	}
	if err := w.outbox.MarkFailed(ctx, m, err, retry); err != nil {
		w.log.Error("mark outbox message failed", "id", m.ID, "err", err)
	}
}

var errUnknownKind = errors.New("unknown outbox message kind")

// send renders and sends one mail.
func (w *Worker) send(ctx context.Context, m *models.OutboxMessage) error {
	msg, err := w.compose(ctx, m)
	if err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.opts.SendTimeout)
	defer cancel()
	return w.mailer.Send(sendCtx, msg)
}

// compose renders a message from its kind and payload.
func (w *Worker) compose(ctx context.Context, m *models.OutboxMessage) (Message, error) {
	d := m.Data()
	switch m.Kind {
	case models.KindPasswordReset:
		secs, _ := strconv.Atoi(d["ttl_seconds"])
		ttl := time.Duration(max(secs, 60)) * time.Second
		token, err := w.outbox.PrepareToken(ctx, m, models.PurposePasswordReset, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.ResetEmail{Username: d["username"], Link: w.baseURL + "/accounts/reset/" + token + "/",
			ValidFor: HumanDuration(ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Password reset on Gatehouse", components.ResetEmailText(e), components.ResetEmailHTML(e))
	case models.KindPasswordChanged:
		e := components.PasswordChangedEmail{Username: d["username"], When: humanTime(d["when"]),
			ResetURL: w.baseURL + "/accounts/password_reset/", SiteURL: w.baseURL,
			Reset: d["reset"] == "1", Factors: d["factors"], FactorsRemoved: d["factors_removed"] == "1",
			FactorsURL: w.baseURL + components.TwoFactorPath}
		return Compose(ctx, m.Recipient, "Your Gatehouse password was changed", components.PasswordChangedEmailText(e), components.PasswordChangedEmailHTML(e))
	case models.KindEmailChanged:
		by := "you"
		if d["by"] == "staff" {
			by = "the site's staff"
		}
		e := components.EmailChangedEmail{Username: d["username"], When: humanTime(d["when"]), By: by,
			ResetURL: w.baseURL + "/accounts/password_reset/", SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Your Gatehouse e-mail address was changed", components.EmailChangedEmailText(e), components.EmailChangedEmailHTML(e))
	case models.KindMFAChanged:
		by := "you"
		if d["by"] == "staff" {
			by = "the site's staff"
		}
		e := components.MFAChangedEmail{Username: d["username"], Change: d["change"], What: capitalize(d["what"]), By: by,
			When: humanTime(d["when"]), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Two-factor authentication changed on Gatehouse", components.MFAChangedEmailText(e), components.MFAChangedEmailHTML(e))
	case models.KindRecoveryCodeUsed:
		e := components.RecoveryCodeUsedEmail{Username: d["username"], When: humanTime(d["when"]), Left: d["left"],
			IP: d["ip"], SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "A recovery code was used to sign in to Gatehouse", components.RecoveryCodeUsedEmailText(e), components.RecoveryCodeUsedEmailHTML(e))
	}
	if msg, ok, err := w.composeAccount(ctx, m, d); ok {
		return msg, err
	}
	return Message{}, fmt.Errorf("%w: %q", errUnknownKind, m.Kind)
}

// capitalize upper-cases the first letter of a sentence's subject.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// humanTime formats an RFC 3339 time from a payload for a mail.
func humanTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2 Jan 2006 at 15:04 MST")
}

// HumanDuration says d the way a mail should: "1 hour", "30 minutes".
func HumanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
