package models

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/testdb"
)

// openTestDB opens a fresh database: an SQLite file under t.TempDir(), or
// a new PostgreSQL database when TEST_DATABASE_URL is set (testdb.URL).
func openTestDB(t testing.TB, opts ...OpenOption) *gorm.DB {
	t.Helper()
	db, err := Open(context.Background(), testdb.URL(t), opts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = Close(db) })
	return db
}

// fakeClock is a settable time source for the throttle.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestThrottles(t *testing.T) (*Throttles, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	th := NewThrottles(openTestDB(t))
	th.now = clock.now
	return th, clock
}

// take takes one attempt against r and fails the test on a database error.
func take(t *testing.T, th *Throttles, r Rule) Taken {
	t.Helper()
	got, err := th.Take(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestThrottleBlocksAfterMaxAndBacksOff(t *testing.T) {
	ctx := context.Background()
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 3, Window: 15 * time.Minute, Block: time.Minute, MaxBlock: 5 * time.Minute}
	r := NewRule("login:user+ip", limit, "alice", "192.0.2.1")

	wantBlocks := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for round, want := range wantBlocks {
		for i := 1; i <= limit.Max; i++ {
			got := take(t, th, r)
			if got.Refused() {
				t.Fatalf("round %d attempt %d: got refused (wait %v), want taken", round, i, got.Wait)
			}
			if i < limit.Max && got.Blocked != 0 {
				t.Fatalf("round %d attempt %d: got blocked for %v, want not blocked", round, i, got.Blocked)
			}
			if i == limit.Max && got.Blocked != want {
				t.Fatalf("round %d: got blocked for %v, want %v", round, got.Blocked, want)
			}
		}
		if got := take(t, th, r); !got.Refused() || got.Wait != want {
			t.Fatalf("round %d: next attempt got wait %v, want refused for %v", round, got.Wait, want)
		}
		clock.advance(want - time.Second)
		if got, _ := th.Wait(ctx, r); got != time.Second {
			t.Fatalf("round %d: a second before the end: got wait %v, want 1s", round, got)
		}
		clock.advance(time.Second)
	}

	if err := th.db.Transaction(func(tx *gorm.DB) error { return ResetRule(tx, r) }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < limit.Max; i++ {
		take(t, th, r)
	}
	if got := take(t, th, r); got.Blocked != time.Minute {
		t.Fatalf("after reset: got first block %v, want %v (back-off forgotten)", got.Blocked, time.Minute)
	}
}

// TestThrottleRefusedAttemptsAreNotCounted: hammering a blocked key does
// not stretch its block, and a refusal by one rule counts against none.
func TestThrottleRefusedAttemptsAreNotCounted(t *testing.T) {
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 2, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}
	user := NewRule("login:user+ip", limit, "alice", "192.0.2.1")
	ip := NewRule("login:ip", Limit{Max: 100, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}, "192.0.2.1")
	take(t, th, user)
	take(t, th, user)
	for range 20 {
		if got, err := th.Take(context.Background(), user, ip); err != nil || !got.Refused() {
			t.Fatalf("got %+v, %v; want refused", got, err)
		}
	}
	var row ThrottleCounter
	if err := th.db.Where("key = ?", ip.Key).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.Count != 0 {
		t.Errorf("per-IP count after refused attempts: got %d, want 0", row.Count)
	}
	clock.advance(time.Minute)
	if got := take(t, th, user); got.Refused() {
		t.Fatalf("after the block: got refused for %v, want taken (block not stretched)", got.Wait)
	}
}

// TestThrottleGiveBack: an attempt given back (a login that succeeded) does
// not count, and a block it started is lifted.
func TestThrottleGiveBack(t *testing.T) {
	th, _ := newTestThrottles(t)
	limit := Limit{Max: 2, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}
	r := NewRule("login:ip", limit, "192.0.2.1")
	take(t, th, r)
	got := take(t, th, r)
	if got.Blocked == 0 {
		t.Fatal("second attempt: got no block, want the limit used up")
	}
	if err := th.db.Transaction(func(tx *gorm.DB) error { return GiveBack(tx, got, "login:ip") }); err != nil {
		t.Fatal(err)
	}
	if got := take(t, th, r); got.Refused() {
		t.Fatalf("after giving the attempt back: got refused for %v, want taken", got.Wait)
	}
	if got := take(t, th, r); !got.Refused() {
		t.Fatal("third attempt: got taken, want refused")
	}
}

// TestRaceThrottleTakeBurst fires a burst of parallel takes at one key, as
// a parallel attack would (and as several instances over one database
// would, each with its own Throttles): exactly Max are let through.
func TestRaceThrottleTakeBurst(t *testing.T) {
	db := openTestDB(t)
	limit := Limit{Max: 5, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}
	r := NewRule("login:user+ip", limit, "victim", "192.0.2.9")
	const n = 40
	var mu sync.Mutex
	got := map[bool]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		th := NewThrottles(db)
		wg.Go(func() {
			<-start
			res, err := th.Take(context.Background(), r)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[res.Refused()]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if got[false] != limit.Max || got[true] != n-limit.Max {
		t.Fatalf("got %d taken and %d refused, want %d and %d", got[false], got[true], limit.Max, n-limit.Max)
	}
}

func TestThrottleWindowForgetsOldAttempts(t *testing.T) {
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 3, Window: 10 * time.Minute, Block: time.Minute, MaxBlock: time.Hour}
	r := NewRule("login:ip", limit, "192.0.2.1")
	for range 2 {
		take(t, th, r)
	}
	clock.advance(limit.Window)
	for i := range 2 {
		if got := take(t, th, r); got.Blocked != 0 {
			t.Fatalf("attempt %d in a new window: got blocked %v, want not blocked", i+1, got.Blocked)
		}
	}
	if got := take(t, th, r); got.Blocked == 0 {
		t.Fatal("third attempt in the window: got not blocked, want blocked")
	}
}

func TestThrottleKeysAreIndependentAndHashed(t *testing.T) {
	th, _ := newTestThrottles(t)
	limit := Limit{Max: 1, Window: time.Minute, Block: time.Minute, MaxBlock: time.Minute}
	a := NewRule("login:user+ip", limit, "alice", "192.0.2.1")
	b := NewRule("login:user+ip", limit, "alice", "192.0.2.2")
	if a.Key == b.Key || ThrottleKey("s", "a|b", "c") == ThrottleKey("s", "a", "b|c") {
		t.Fatal("distinct parts gave the same key")
	}
	take(t, th, a)
	if got := take(t, th, a); !got.Refused() {
		t.Fatal("key a: got taken, want refused")
	}
	if got := take(t, th, b); got.Refused() {
		t.Fatal("key b: got refused by key a's attempts, want taken")
	}
	var rows []ThrottleCounter
	if err := th.db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if len(r.Key) != 64 || r.Key == "alice" {
			t.Fatalf("stored key %q: want a 64-character hash", r.Key)
		}
	}
}

func TestThrottleOffNeverBlocks(t *testing.T) {
	th, _ := newTestThrottles(t)
	r := NewRule("x", Limit{Max: -1}, "k")
	for range 10 {
		if got := take(t, th, r); got.Refused() || got.Blocked != 0 {
			t.Fatalf("limit off: got %+v, want taken", got)
		}
	}
}

func TestThrottleDeleteStale(t *testing.T) {
	ctx := context.Background()
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 2, Window: time.Minute, Block: 48 * time.Hour, MaxBlock: 48 * time.Hour}
	idle, blocked := NewRule("t", limit, "idle"), NewRule("t", limit, "blocked")
	take(t, th, idle)
	take(t, th, blocked)
	take(t, th, blocked)
	clock.advance(ThrottleRetention - time.Second)
	if n, err := th.DeleteStale(ctx); err != nil || n != 0 {
		t.Fatalf("before retention: got (%d, %v), want (0, nil)", n, err)
	}
	clock.advance(time.Second)
	if n, err := th.DeleteStale(ctx); err != nil || n != 1 {
		t.Fatalf("after retention: got (%d, %v), want (1, nil): the idle counter only", n, err)
	}
	if w, _ := th.Wait(ctx, blocked); w == 0 {
		t.Fatal("a still-blocked counter was swept")
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr bool
	}{
		{in: "5/15m", want: Limit{Max: 5, Window: 15 * time.Minute}},
		{in: " 50 / 1h ", want: Limit{Max: 50, Window: time.Hour}},
		{in: "off", want: Limit{Max: -1}},
		{in: "OFF", want: Limit{Max: -1}},
		{in: "5", wantErr: true},
		{in: "0/15m", wantErr: true},
		{in: "-1/15m", wantErr: true},
		{in: "5/0s", wantErr: true},
		{in: "5/fortnight", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimit(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestThrottleIP(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1":                "192.0.2.1",
		"::ffff:192.0.2.1":         "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		" not-an-ip ":              "not-an-ip",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
		"2001:0db8:0001:0002::abc": "2001:db8:1:2::/64",
	}
	for in, want := range tests {
		if got := ThrottleIP(in); got != want {
			t.Errorf("ThrottleIP(%q): got %q, want %q", in, got, want)
		}
	}
}

// TestRaceThrottleConcurrentTakes counts attempts on one key from many
// goroutines (as from many instances): none may be lost and none may fail.
func TestRaceThrottleConcurrentTakes(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	const workers, each = 8, 10
	r := NewRule("race", Limit{Max: 1000, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}, "one")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		// A Throttles per worker, like separate instances over one database.
		th := NewThrottles(db)
		wg.Go(func() {
			for range each {
				if _, err := th.Take(ctx, r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Take: %v", err)
	}
	var row ThrottleCounter
	if err := db.Where("key = ?", r.Key).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.Count != workers*each {
		t.Fatalf("got count %d, want %d", row.Count, workers*each)
	}
}
