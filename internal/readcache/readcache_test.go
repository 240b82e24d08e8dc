package readcache

import (
	"sync/atomic"
	"testing"

	"gatehouse/models"
)

// watch is a change watch whose stamp the test moves.
type watch struct {
	gen atomic.Uint64
	off atomic.Bool
}

func (w *watch) Stamp() (models.ChangeStamp, bool) {
	return models.TestStamp(w.gen.Load()), !w.off.Load()
}

func TestEntriesLiveUntilTheStampMoves(t *testing.T) {
	w := &watch{}
	c := New[string](w, 10)
	t1 := c.Begin()
	if _, ok := c.Get(t1, "a"); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Put(t1, "a", "one")
	if v, ok := c.Get(c.Begin(), "a"); !ok || v != "one" {
		t.Fatalf("got %q %v, want the value put at the same stamp", v, ok)
	}
	w.gen.Add(1) // a commit
	if _, ok := c.Get(c.Begin(), "a"); ok {
		t.Fatal("an entry read before a commit was served after it")
	}
	// A read begun before a commit and kept after it is not kept: it may
	// have seen the state before the commit.
	t2 := c.Begin()
	w.gen.Add(1)
	c.Put(t2, "b", "stale")
	if _, ok := c.Get(c.Begin(), "b"); ok {
		t.Fatal("a read that straddled a commit was kept")
	}
	if _, ok := c.Get(t2, "b"); ok {
		t.Fatal("a read that straddled a commit was kept under its old stamp")
	}
	// No stamp (the watch cannot tell): nothing kept, nothing served.
	t3 := c.Begin()
	c.Put(t3, "c", "three")
	w.off.Store(true)
	if _, ok := c.Get(c.Begin(), "c"); ok {
		t.Fatal("served while the watch gives no stamp")
	}
	c.Put(c.Begin(), "d", "four")
	w.off.Store(false)
	if _, ok := c.Get(c.Begin(), "d"); ok {
		t.Fatal("kept a read made while the watch gave no stamp")
	}
}

func TestBoundedAndNilSafe(t *testing.T) {
	w := &watch{}
	c := New[int](w, 3)
	tk := c.Begin()
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		c.Put(tk, k, i)
	}
	n := 0
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, ok := c.Get(tk, k); ok {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("kept %d entries, want the bound 3", n)
	}
	if h, m := c.Stats(); h != 3 || m != 2 {
		t.Fatalf("stats %d hits %d misses, want 3 and 2", h, m)
	}
	var none *Cache[int]
	none.Put(none.Begin(), "a", 1)
	if _, ok := none.Get(none.Begin(), "a"); ok {
		t.Fatal("a nil cache served")
	}
	off := New[int](nil, 3)
	off.Put(off.Begin(), "a", 1)
	if _, ok := off.Get(off.Begin(), "a"); ok {
		t.Fatal("a cache without a watch served")
	}
}
