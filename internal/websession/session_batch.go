package websession

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// On PostgreSQL a session lookup is a round trip to another process (or
// host), and what it costs the app and the database server is mostly per
// statement, not per row. So lookups that arrive while others are in
// flight are answered together, by one statement for all their IDs
// (sessionsUserQuery): under load, one round trip serves many requests;
// when the app is idle every lookup still runs at once, alone.
//
// The batcher keeps nothing (the cache in front of it, session_load.go,
// serves only rows read since the database last changed) and no lookup
// waits for a timer: each request's session is read by a statement that
// starts after the request asked for it, so a session revoked, expired
// or signed out before the request came is refused as before. Expiry is
// checked per lookup, against that request's clock.
//
// How it works: at most maxInFlight statements run at once. A lookup that
// finds a free slot leads: it takes every lookup waiting (up to maxBatch,
// itself included), runs the statement and hands each its row. A lookup
// that finds none waits; when a leader finishes, it promotes the first
// waiting lookup to lead the next statement. No goroutine is started and
// none is left behind.
type sessionBatcher struct {
	maxInFlight, maxBatch int

	mu       sync.Mutex
	inFlight int
	waiting  []*sessionLookup

	// statements and lookups count what was run and answered.
	statements, lookups atomic.Int64
}

// sessionLookup is one request's lookup.
type sessionLookup struct {
	id  string
	now time.Time
	// ready is closed when the result is set, or when this lookup is
	// promoted to lead (lead is then true).
	ready chan struct{}
	lead  bool
	row   loadedSession
	found bool
	err   error
}

// sessionLookupTimeout bounds one lookup statement: past it, every lookup
// it was answering fails as unavailable (503, Retry-After) rather than
// wait, and the next statement runs. A variable for tests.
var sessionLookupTimeout = 5 * time.Second

// errLookupAbandoned answers lookups whose statement did not complete
// (its leader panicked); it is never expected.
var errLookupAbandoned = errors.New("session lookup abandoned")

func newSessionBatcher(maxInFlight, maxBatch int) *sessionBatcher {
	return &sessionBatcher{maxInFlight: max(maxInFlight, 1), maxBatch: max(maxBatch, 1)}
}

// load returns the unexpired session with row ID id, reading it with
// loadMany together with other lookups in flight.
func (b *sessionBatcher) load(id string, now time.Time, loadMany func([]string) (map[string]loadedSession, error)) (loadedSession, bool, error) {
	l := &sessionLookup{id: id, now: now}
	b.mu.Lock()
	if b.inFlight >= b.maxInFlight {
		l.ready = make(chan struct{})
		b.waiting = append(b.waiting, l)
		b.mu.Unlock()
		<-l.ready
		if !l.lead {
			return l.row, l.found, l.err
		}
		b.mu.Lock() // promoted: the slot is already ours, and l left the queue
	} else {
		b.inFlight++
	}
	batch := b.takeLocked(l)
	b.mu.Unlock()
	b.run(batch, loadMany)
	return l.row, l.found, l.err
}

// takeLocked returns lead and as many waiting lookups as fit in a batch,
// removing them from the queue.
func (b *sessionBatcher) takeLocked(lead *sessionLookup) []*sessionLookup {
	batch := []*sessionLookup{lead}
	n := min(len(b.waiting), b.maxBatch-1)
	batch = append(batch, b.waiting[:n]...)
	b.waiting = append(b.waiting[:0], b.waiting[n:]...)
	return batch
}

// run reads batch's sessions, answers every lookup in it (batch[0], the
// leader, is answered without a signal) and hands the slot on.
func (b *sessionBatcher) run(batch []*sessionLookup, loadMany func([]string) (map[string]loadedSession, error)) {
	answered := false
	defer func() {
		if !answered {
			for _, l := range batch {
				l.err = errLookupAbandoned
			}
		}
		for _, l := range batch[1:] {
			close(l.ready)
		}
		b.mu.Lock()
		if len(b.waiting) > 0 {
			next := b.waiting[0]
			b.waiting = b.waiting[1:]
			next.lead = true
			close(next.ready) // the slot passes to next
		} else {
			b.inFlight--
		}
		b.mu.Unlock()
	}()
	b.statements.Add(1)
	b.lookups.Add(int64(len(batch)))
	ids := make([]string, len(batch))
	for i, l := range batch {
		ids[i] = l.id
	}
	rows, err := loadMany(ids)
	for _, l := range batch {
		if err != nil {
			l.err = err
			continue
		}
		row, ok := rows[l.id]
		if ok && row.state.ExpiresAt.After(l.now) {
			// Requests with the same cookie in one batch must not share
			// what they may change.
			if u := row.state.User; u != nil {
				c := *u
				row.state.User = &c
			}
			row.Data = bytes.Clone(row.Data)
			l.row, l.found = row, true
		}
	}
	answered = true
}

// sessionLookupsInFlight is how many lookup statements run at once on
// PostgreSQL. Measured with 32 requests in flight on 2 cores (task bench,
// scenario p3, interleaved with /healthz): one statement at a time served
// 36-39% of /healthz's rate, two 32-33%, four and eight less, unbatched
// 23-26%; with one, each statement answers more lookups, and both the app
// and PostgreSQL spend less per request. A statement that hangs (a dead
// connection, a lock) holds the others for at most sessionLookupTimeout.
var sessionLookupsInFlight = 1
