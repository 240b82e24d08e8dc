package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueFull and ErrQueueStopped are returned by Enqueue when a message
// cannot be taken; the caller logs it, the user never sees it.
var (
	ErrQueueFull    = errors.New("mail queue is full")
	ErrQueueStopped = errors.New("mail queue has stopped")
)

// QueueOptions tune a Queue; zero values take the defaults.
type QueueOptions struct {
	// Size is how many messages may wait (default 256).
	Size int
	// Workers is how many messages are sent at once (default 2).
	Workers int
	// Attempts is how often a message is tried in all (default 4).
	Attempts int
	// Backoff is the wait after the first failure; it doubles after each
	// further failure (default 2s: 2s, 4s, 8s).
	Backoff time.Duration
	// SendTimeout bounds one attempt (default 30s).
	SendTimeout time.Duration
	// DrainTimeout bounds how long Run keeps sending after its context
	// ends (default 10s).
	DrainTimeout time.Duration
}

// Queue sends messages in the background with retries, so a slow or broken
// mail server never slows or changes a response. Run ties it to the server's
// lifetime: when the server stops, what is queued is still sent (within the
// drain timeout) before Run returns.
type Queue struct {
	mailer  Mailer
	log     *slog.Logger
	opts    QueueOptions
	ch      chan Message
	stopped atomic.Bool
}

// NewQueue returns a queue sending through m. Nothing is sent until Run.
func NewQueue(m Mailer, log *slog.Logger, opts QueueOptions) *Queue {
	if opts.Size <= 0 {
		opts.Size = 256
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 30 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	return &Queue{mailer: m, log: log, opts: opts, ch: make(chan Message, opts.Size)}
}

// Enqueue hands m to the queue without waiting.
func (q *Queue) Enqueue(m Message) error {
	if q.stopped.Load() {
		return ErrQueueStopped
	}
	select {
	case q.ch <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

// Run sends queued messages until ctx ends, then sends what is still queued
// and returns. After ctx ends, sends continue for at most DrainTimeout: the
// server is stopping, but the messages were promised to someone.
func (q *Queue) Run(ctx context.Context) {
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	stop := context.AfterFunc(ctx, func() {
		q.stopped.Store(true)
		time.AfterFunc(q.opts.DrainTimeout, hardCancel)
	})
	defer stop()
	var wg sync.WaitGroup
	for range q.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case m := <-q.ch:
					q.deliver(ctx, hard, m)
					continue
				case <-ctx.Done():
				}
				// Stopping: drain what is left, then return.
				for {
					select {
					case m := <-q.ch:
						q.deliver(ctx, hard, m)
					default:
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// deliver tries m up to Attempts times with doubling back-off. soft ending
// (shutdown) cuts the back-off short and moves to one last attempt; hard
// ending (drain deadline) gives up. Logs name the subject only: bodies may
// hold a reset link.
func (q *Queue) deliver(soft, hard context.Context, m Message) {
	wait := q.opts.Backoff
	for attempt := 1; ; attempt++ {
		sendCtx, cancel := context.WithTimeout(hard, q.opts.SendTimeout)
		err := q.mailer.Send(sendCtx, m)
		cancel()
		if err == nil {
			q.log.Debug("mail sent", "subject", m.Subject, "attempt", attempt)
			return
		}
		if attempt >= q.opts.Attempts || hard.Err() != nil {
			q.log.Error("mail not sent; giving up", "subject", m.Subject, "attempts", attempt, "err", err)
			return
		}
		q.log.Warn("mail send failed; will retry", "subject", m.Subject, "attempt", attempt, "retry_in", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-soft.Done():
			t.Stop()
			attempt = max(attempt, q.opts.Attempts-1) // one last try
		}
		wait *= 2
	}
}
