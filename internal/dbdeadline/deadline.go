// Package dbdeadline bounds a request's database work: a deadline that
// pauses while the request waits for or does password hashing.
package dbdeadline

import (
	"context"
	"sync"
	"time"
)

// With returns a context that ends d after now, like
// context.WithTimeout, except that the time a request spends waiting for
// or doing password hashing (Hasher, bounded by HASH_QUEUE_TIMEOUT on its
// own) does not count: the deadline bounds the request's database work
// (DATABASE_BUSY_TIMEOUT), so a login queued behind a hashing flood is not
// cut short, while a locked table or a hung server still answers in time.
// The parent's cancellation (a client that left) ends it at once.
func With(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	p := &pausableDeadline{Context: parent, done: make(chan struct{}), left: d, since: time.Now()}
	p.mu.Lock()
	p.timer = time.AfterFunc(d, func() { p.finish(context.DeadlineExceeded) })
	p.stopParent = context.AfterFunc(parent, func() { p.finish(context.Cause(parent)) })
	p.mu.Unlock()
	return p, func() { p.finish(context.Canceled) }
}

// pauserKey finds the request's pausable deadline among context values.
type pauserKey struct{}

// Pause stops ctx's database deadline from counting until the
// returned function is called (a no-op for other contexts).
func Pause(ctx context.Context) (resume func()) {
	if p, ok := ctx.Value(pauserKey{}).(*pausableDeadline); ok {
		return p.pause()
	}
	return func() {}
}

type pausableDeadline struct {
	context.Context // the parent: values, and its cancellation
	done            chan struct{}

	mu         sync.Mutex
	err        error
	left       time.Duration // budget left when the current stretch began
	since      time.Time     // start of the current running stretch
	paused     int
	timer      *time.Timer
	stopParent func() bool
}

func (p *pausableDeadline) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if err == nil {
		err = context.Canceled
	}
	p.err = err
	close(p.done)
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.stopParent != nil {
		p.stopParent()
	}
}

func (p *pausableDeadline) Done() <-chan struct{} { return p.done }

func (p *pausableDeadline) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pausableDeadline) Deadline() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused > 0 {
		return time.Now().Add(p.left), true
	}
	return p.since.Add(p.left), true
}

func (p *pausableDeadline) Value(key any) any {
	if key == (pauserKey{}) {
		return p
	}
	return p.Context.Value(key)
}

func (p *pausableDeadline) pause() func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return func() {}
	}
	if p.paused == 0 && p.timer.Stop() {
		p.left -= time.Since(p.since)
	}
	p.paused++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.paused--
			if p.paused == 0 && p.err == nil {
				p.since = time.Now()
				p.timer.Reset(max(p.left, 0))
			}
		})
	}
}
