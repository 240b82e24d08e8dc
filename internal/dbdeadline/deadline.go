// Package dbdeadline bounds a request's database work: a deadline that
// pauses while the request waits for or does password hashing.
package dbdeadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// With returns a context that ends d after now, like
// context.WithTimeout, except that the time a request spends waiting for
// or doing password hashing (Hasher, bounded by HASH_QUEUE_TIMEOUT on its
// own) does not count: the deadline bounds the request's database work
// (DATABASE_BUSY_TIMEOUT), so a login queued behind a hashing flood is not
// cut short, while a locked table or a hung server still answers in time.
// The parent's cancellation (a client that left) ends it at once.
//
// The timer and the watch of the parent are armed when something first
// asks for Done — the database driver, when the request's first statement
// runs — so a request that never reaches the database (an anonymous page,
// a redirect) costs no timer; Err alone checks the parent and the budget
// without one. The budget still counts from the call to With.
func With(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	p := new(Pausable)
	p.Init(parent, d)
	return p, p.Cancel
}

// Pausable is the context With returns, as a type that can be embedded:
// a context type holding a request's values beside it makes the values
// and the deadline one allocation (the app's request scope). Init it
// before use, call Cancel when done, and never copy it.
type Pausable struct {
	context.Context // the parent: values, and its cancellation
	// done is made by the first Done (or set to closedChan by an end
	// before that): a request that never asks costs no channel.
	done chan struct{}

	mu         sync.Mutex
	err        error
	left       time.Duration // budget left when the current stretch began
	since      time.Time     // start of the current running stretch
	paused     int
	timer      *time.Timer
	stopParent func() bool
	armed      atomic.Bool // the timer and the parent's watch are set up
}

// Init makes p a context that ends d after now (see With).
func (p *Pausable) Init(parent context.Context, d time.Duration) {
	p.Context, p.left, p.since = parent, d, time.Now()
}

// Cancel ends p (With's CancelFunc).
func (p *Pausable) Cancel() { p.finish(context.Canceled) }

// closedChan is the Done channel of a Pausable that ended before anything
// asked for it.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// pauserKey finds the request's pausable deadline among context values.
type pauserKey struct{}

// Pause stops ctx's database deadline from counting until the
// returned function is called (a no-op for other contexts).
func Pause(ctx context.Context) (resume func()) {
	if p, ok := ctx.Value(pauserKey{}).(*Pausable); ok {
		return p.pause()
	}
	return func() {}
}

// armLocked starts the timer (unless paused) and watches the parent; p.mu
// is held.
func (p *Pausable) armLocked() {
	if p.armed.Load() || p.err != nil {
		return
	}
	// done is set before armed: Done reads it without the lock once
	// armed, and it never changes after.
	p.done = make(chan struct{})
	p.armed.Store(true)
	if p.paused == 0 {
		p.left -= time.Since(p.since)
		p.since = time.Now()
		p.timer = time.AfterFunc(max(p.left, 0), func() { p.finish(context.DeadlineExceeded) })
	}
	parent := p.Context
	p.stopParent = context.AfterFunc(parent, func() { p.finish(context.Cause(parent)) })
}

func (p *Pausable) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked(err)
}

// finishLocked ends the context with err (Canceled for nil), once; p.mu is
// held.
func (p *Pausable) finishLocked(err error) {
	if p.err != nil {
		return
	}
	if err == nil {
		err = context.Canceled
	}
	p.err = err
	if p.done == nil {
		p.done = closedChan
	} else {
		close(p.done)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.stopParent != nil {
		p.stopParent()
	}
}

func (p *Pausable) Done() <-chan struct{} {
	if p.armed.Load() {
		return p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armLocked()
	return p.done // made by armLocked, or ended before (closedChan)
}

// Err needs no timer: before anything asked for Done, it looks at the
// parent and the budget itself (a page's render asks, its database work
// may not), and only Done arms the timer and the watch of the parent.
func (p *Pausable) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.armed.Load() {
		switch {
		case p.Context.Err() != nil:
			p.finishLocked(context.Cause(p.Context))
		case p.paused == 0 && time.Since(p.since) >= p.left:
			p.finishLocked(context.DeadlineExceeded)
		}
	}
	return p.err
}

func (p *Pausable) Deadline() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused > 0 {
		return time.Now().Add(p.left), true
	}
	return p.since.Add(p.left), true
}

func (p *Pausable) Value(key any) any {
	if key == (pauserKey{}) {
		return p
	}
	return p.Context.Value(key)
}

func (p *Pausable) pause() func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return func() {}
	}
	if p.paused == 0 {
		switch {
		case p.timer != nil:
			if p.timer.Stop() {
				p.left -= time.Since(p.since)
			}
		case !p.armed.Load():
			p.left -= time.Since(p.since)
		}
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
				switch {
				case p.timer != nil:
					p.timer.Reset(max(p.left, 0))
				case p.armed.Load(): // armed while paused
					p.timer = time.AfterFunc(max(p.left, 0), func() { p.finish(context.DeadlineExceeded) })
				}
			}
		})
	}
}
