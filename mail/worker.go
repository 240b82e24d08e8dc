package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/locale"
	"gatehouse/models"
)

// WorkerOptions tune a Worker; zero values take the defaults.
type WorkerOptions struct {
	// Poll is how often the outbox is looked at when nothing woke the
	// worker (default 1s); work queued by this process wakes it at once.
	Poll time.Duration
	// Concurrency is how many messages are worked on at once (default
	// 2); each is claimed on its own, when a slot is free, so no claimed
	// message waits for another's send.
	Concurrency int
	// Backoff is the wait after the first failure; it doubles after each
	// further failure (default 2s: 2s, 4s, 8s …) up to MaxBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts (MAIL_RETRY_MAX_INTERVAL,
	// default 5m).
	MaxBackoff time.Duration
	// RetryFor is how long after it was queued a message is still tried
	// (MAIL_RETRY_FOR, default 24h); then it fails for good, with its last
	// error, until someone retries it.
	RetryFor time.Duration
	// SendTimeout bounds one attempt (default 30s).
	SendTimeout time.Duration
	// Lease is how long a claim lasts unrenewed (default SendTimeout +
	// 15s); the worker renews it every third of it while it works.
	Lease time.Duration
	// DrainTimeout bounds how long Run keeps sending what it holds after
	// its context ends (default 10s); the rest stays for the next start.
	DrainTimeout time.Duration
	// InstanceID names this instance in its claims (INSTANCE_ID): a
	// worker starting under an ID takes back at once the leases a killed
	// process with that ID held. Empty: random, so nothing is taken back.
	InstanceID string
	// OnFailure, when set, is told of every failed attempt (for metrics).
	OnFailure func()
}

// Defaults of the retry schedule (MAIL_RETRY_MAX_INTERVAL, MAIL_RETRY_FOR).
const (
	DefaultRetryMaxInterval = 5 * time.Minute
	DefaultRetryFor         = 24 * time.Hour
)

func (o *WorkerOptions) setDefaults() {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultRetryMaxInterval
	}
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultRetryFor
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = o.SendTimeout + 15*time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.InstanceID == "" {
		o.InstanceID = "process-" + rand.Text()[:12]
	}
}

// Worker drains the outbox (models.Outbox): it claims due messages one at
// a time, runs jobs (a reset request: the account look-up), renders mails
// from their kind and payload — with the message's own one-time link for
// the ones that carry one — sends them, and marks them sent, or failed
// (retried with back-off until RetryFor has passed), or dropped (recipient
// gone). Several workers, in one process or many, share one outbox
// safely: claims are leases taken by a conditional write, renewed while a
// message is worked on and checked before it is sent and when its outcome
// is recorded.
type Worker struct {
	outbox  *models.Outbox
	mailer  Mailer
	jobs    func(context.Context, *models.OutboxMessage) error
	baseURL string
	log     *slog.Logger
	opts    WorkerOptions
}

// NewWorker returns a worker sending through m. jobs runs the outbox rows
// that are work rather than mail (auth.Accounts.ProcessResetRequest);
// baseURL starts every link in a mail.
func NewWorker(outbox *models.Outbox, m Mailer, jobs func(context.Context, *models.OutboxMessage) error, baseURL string, log *slog.Logger, opts WorkerOptions) *Worker {
	opts.setDefaults()
	return &Worker{outbox: outbox, mailer: m, jobs: jobs, baseURL: strings.TrimRight(baseURL, "/"), log: log, opts: opts}
}

// Run works the outbox until ctx ends. Then it finishes the messages it
// holds (within DrainTimeout); nothing is dropped: unsent rows wait for
// the next start. It starts by taking back the leases its instance ID
// held (a killed process's).
func (w *Worker) Run(ctx context.Context) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.opts.DrainTimeout, cancel) })
	defer stop()
	if n, err := w.outbox.TakeBack(ctx, w.opts.InstanceID); err != nil {
		if ctx.Err() == nil { // not a shutdown right after the start
			w.log.Warn("take back outbox claims", "err", err)
		}
	} else if n > 0 {
		w.log.Info("took back outbox claims of this instance's previous run", "count", n, "instance", w.opts.InstanceID)
	}
	t := time.NewTicker(w.opts.Poll)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.opts.Concurrency)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		batch, err := w.outbox.Claim(ctx, w.opts.InstanceID, 1, w.opts.Lease)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("claim outbox", "err", err)
		}
		if len(batch) == 1 {
			wg.Go(func() {
				defer func() { <-slots }()
				w.process(ctx, hard, &batch[0])
			})
			continue // more may be due
		}
		<-slots
		select {
		case <-ctx.Done():
			return
		case <-w.outbox.Wake():
		case <-t.C:
		}
	}
}

// process does one message and records the outcome, renewing its lease
// while it works; if the lease is lost, the work is cancelled and no
// outcome is recorded (the holder records it). Logs name the kind and ID
// only: bodies hold links.
func (w *Worker) process(ctx, hard context.Context, m *models.OutboxMessage) {
	work, cancel := context.WithCancelCause(hard)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.keepClaim(work, m, cancel)
	}()
	defer func() { cancel(nil); <-renewed }()

	err := w.outbox.CheckRecipient(work, m)
	if err == nil {
		if models.IsJob(m.Kind) {
			err = w.jobs(work, m)
		} else {
			err = w.send(work, m)
		}
	}
	if errors.Is(err, models.ErrClaimLost) || errors.Is(context.Cause(work), models.ErrClaimLost) {
		w.log.Warn("outbox claim lost; left to its new holder", "id", m.ID, "kind", m.Kind)
		return
	}
	if err == nil {
		if m.Kind != models.KindResetRequest {
			w.markSent(hard, m)
		}
		w.log.Debug("outbox message done", "id", m.ID, "kind", m.Kind, "attempt", m.Attempts)
		return
	}
	var gone *models.RecipientGone
	if errors.As(err, &gone) {
		w.log.Info("outbox message dropped", "id", m.ID, "kind", m.Kind, "reason", gone.Reason)
		w.record("drop outbox message", m, w.outbox.Drop(hard, m, gone.Reason))
		return
	}
	if ctx.Err() != nil && hard.Err() != nil {
		// Shut down mid-attempt: hand it back for the next start.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(hard), 2*time.Second)
		defer rcancel()
		w.record("release outbox message", m, w.outbox.Release(rctx, m))
		return
	}
	if w.opts.OnFailure != nil {
		w.opts.OnFailure()
	}
	now := time.Now()
	retry, deadline := time.Time{}, m.CreatedAt.Add(w.opts.RetryFor)
	if now.Before(deadline) && !errors.Is(err, errUnknownKind) {
		wait := min(w.opts.Backoff<<min(m.Attempts-1, 30), w.opts.MaxBackoff)
		if wait <= 0 { // shifted past the int64 range
			wait = w.opts.MaxBackoff
		}
		if retry = now.Add(wait); retry.After(deadline) {
			retry = deadline
		}
		w.log.Warn("outbox message failed; will retry", "id", m.ID, "kind", m.Kind, "attempt", m.Attempts, "retry_at", retry.UTC().Format(time.RFC3339), "err", err)
	} else {
		w.log.Error("outbox message failed for good", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "err", err)
	}
	w.record("mark outbox message failed", m, w.outbox.MarkFailed(hard, m, err, retry))
}

// keepClaim renews m's lease every third of it until ctx ends; when the
// claim is lost it cancels the work with ErrClaimLost. A renewal that
// fails for another reason (the database) is tried again at the next
// tick: the lease still has two thirds to run.
func (w *Worker) keepClaim(ctx context.Context, m *models.OutboxMessage, cancel context.CancelCauseFunc) {
	t := time.NewTicker(w.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := w.outbox.Renew(ctx, m, w.opts.Lease)
			if errors.Is(err, models.ErrClaimLost) {
				cancel(err)
				return
			}
			if err != nil && ctx.Err() == nil {
				w.log.Warn("renew outbox claim", "id", m.ID, "err", err)
			}
		}
	}
}

// markSent records a delivery, retrying a transient error for as long as
// the lease lasts: a row left unmarked would be claimed and sent again.
func (w *Worker) markSent(ctx context.Context, m *models.OutboxMessage) {
	deadline := time.Now().Add(w.opts.Lease)
	wait := 50 * time.Millisecond
	for {
		err := w.outbox.MarkSent(ctx, m)
		if err == nil || errors.Is(err, models.ErrClaimLost) {
			w.record("mark outbox message sent", m, err)
			return
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			w.log.Error("mark outbox message sent", "id", m.ID, "kind", m.Kind, "err", err)
			return
		}
		w.log.Warn("mark outbox message sent; will retry", "id", m.ID, "kind", m.Kind, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// record logs a failure to record an outcome.
func (w *Worker) record(what string, m *models.OutboxMessage, err error) {
	switch {
	case err == nil:
	case errors.Is(err, models.ErrClaimLost):
		w.log.Warn(what+": claim lost to another worker", "id", m.ID, "kind", m.Kind)
	default:
		w.log.Error(what, "id", m.ID, "kind", m.Kind, "err", err)
	}
}

var errUnknownKind = errors.New("unknown outbox message kind")

// send renders and sends one mail, checking first (renewing the lease)
// that the worker still holds its claim.
func (w *Worker) send(ctx context.Context, m *models.OutboxMessage) error {
	msg, err := w.compose(ctx, m)
	if err != nil {
		return err
	}
	if err := w.outbox.Renew(ctx, m, w.opts.Lease); err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.opts.SendTimeout)
	defer cancel()
	return w.mailer.Send(sendCtx, msg)
}

// capitalize upper-cases the first letter of a sentence's subject.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// humanTime formats an RFC 3339 time from a payload for a mail.
// It is in the reader's language and time zone (ctx's localizer).
func humanTime(ctx context.Context, s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return locale.From(ctx).DateTime(t)
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
