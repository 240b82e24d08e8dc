// Package readcache keeps the results of hot-path reads (the session
// lookup, userinfo's token) for as long as the database has not changed
// since they were read: every entry belongs to one change stamp
// (models.ChangeStamp), and a commit anywhere, by any connection or
// process, moves the stamp and so retires every entry at once. A hit is
// therefore never staler than reading the database again would be; there
// is no time-to-live to tune and nothing to invalidate by hand.
//
// Use:
//
//	t := c.Begin()
//	if v, ok := c.Get(t, key); ok {
//		return v
//	}
//	v := read()       // from the database
//	c.Put(t, key, v)  // kept only if nothing was committed since Begin
//
// Only found rows should be put: what is absent is not kept, so a flood of
// unknown keys costs no memory.
package readcache

import (
	"sync"
	"sync/atomic"

	"gatehouse/models"
)

// Cache maps keys to values read at one change stamp. The zero value and
// a nil *Cache cache nothing.
type Cache[V any] struct {
	watch models.ChangeWatch
	max   int64
	cur   atomic.Pointer[generation[V]]

	hits, misses atomic.Uint64
}

// generation is the entries read at one stamp.
type generation[V any] struct {
	stamp models.ChangeStamp
	n     atomic.Int64
	m     sync.Map // string → V
}

// New returns a cache over watch's stamps holding at most max entries at
// a time (beyond it, reads are not kept until the next change). A nil
// watch gives a cache that keeps nothing.
func New[V any](watch models.ChangeWatch, max int) *Cache[V] {
	return &Cache[V]{watch: watch, max: int64(max)}
}

// Ticket is the stamp a read began under.
type Ticket struct {
	stamp models.ChangeStamp
	ok    bool
}

// Begin reads the current stamp, before the read it may save.
func (c *Cache[V]) Begin() Ticket {
	if c == nil || c.watch == nil {
		return Ticket{}
	}
	s, ok := c.watch.Stamp()
	return Ticket{stamp: s, ok: ok}
}

// Get returns key's value if it was read at t's stamp.
func (c *Cache[V]) Get(t Ticket, key string) (v V, ok bool) {
	if !t.ok {
		return v, false
	}
	if g := c.cur.Load(); g != nil && g.stamp == t.stamp {
		if x, found := g.m.Load(key); found {
			c.hits.Add(1)
			return x.(V), true
		}
	}
	c.misses.Add(1)
	return v, false
}

// Put keeps v, read since t was taken, if the stamp has not moved since:
// then the read saw the state t names.
func (c *Cache[V]) Put(t Ticket, key string, v V) {
	if !t.ok {
		return
	}
	if now, ok := c.watch.Stamp(); !ok || now != t.stamp {
		return
	}
	g := c.cur.Load()
	for g == nil || g.stamp != t.stamp {
		fresh := &generation[V]{stamp: t.stamp}
		if c.cur.CompareAndSwap(g, fresh) {
			g = fresh
			break
		}
		g = c.cur.Load()
	}
	if g.n.Load() >= c.max {
		return
	}
	if _, loaded := g.m.LoadOrStore(key, v); !loaded {
		g.n.Add(1)
	}
}

// Stats returns the hits and misses so far (tests, metrics).
func (c *Cache[V]) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}
