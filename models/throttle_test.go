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

func TestThrottleBlocksAfterMaxAndBacksOff(t *testing.T) {
	ctx := context.Background()
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 3, Window: 15 * time.Minute, Block: time.Minute, MaxBlock: 5 * time.Minute}
	key := ThrottleKey("login:user+ip", "alice", "192.0.2.1")

	wantBlocks := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for round, want := range wantBlocks {
		for i := 1; i <= limit.Max; i++ {
			ok, _, err := th.Check(ctx, key)
			if err != nil || !ok {
				t.Fatalf("round %d attempt %d: Check got (%v, %v), want allowed", round, i, ok, err)
			}
			blocked, err := th.Fail(ctx, "login:user+ip", key, limit)
			if err != nil {
				t.Fatal(err)
			}
			if i < limit.Max && blocked != 0 {
				t.Fatalf("round %d attempt %d: got blocked for %v, want not blocked", round, i, blocked)
			}
			if i == limit.Max && blocked != want {
				t.Fatalf("round %d: got blocked for %v, want %v", round, blocked, want)
			}
		}
		ok, retry, err := th.Check(ctx, key)
		if err != nil || ok || retry != want {
			t.Fatalf("round %d: Check got (%v, %v, %v), want (false, %v, nil)", round, ok, retry, err, want)
		}
		clock.advance(want - time.Second)
		if ok, retry, _ := th.Check(ctx, key); ok || retry != time.Second {
			t.Fatalf("round %d: a second before the end: got (%v, %v), want (false, 1s)", round, ok, retry)
		}
		clock.advance(time.Second)
	}

	if err := th.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < limit.Max; i++ {
		if _, err := th.Fail(ctx, "login:user+ip", key, limit); err != nil {
			t.Fatal(err)
		}
	}
	if blocked, _ := th.Fail(ctx, "login:user+ip", key, limit); blocked != time.Minute {
		t.Fatalf("after Reset: got first block %v, want %v (back-off forgotten)", blocked, time.Minute)
	}
}

func TestThrottleWindowForgetsOldAttempts(t *testing.T) {
	ctx := context.Background()
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 3, Window: 10 * time.Minute, Block: time.Minute, MaxBlock: time.Hour}
	key := ThrottleKey("login:ip", "192.0.2.1")
	for range 2 {
		if _, err := th.Fail(ctx, "login:ip", key, limit); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(limit.Window)
	for i := range 2 {
		if blocked, _ := th.Fail(ctx, "login:ip", key, limit); blocked != 0 {
			t.Fatalf("attempt %d in a new window: got blocked %v, want not blocked", i+1, blocked)
		}
	}
	if blocked, _ := th.Fail(ctx, "login:ip", key, limit); blocked == 0 {
		t.Fatal("third attempt in the window: got not blocked, want blocked")
	}
}

func TestThrottleKeysAreIndependentAndHashed(t *testing.T) {
	ctx := context.Background()
	th, _ := newTestThrottles(t)
	limit := Limit{Max: 1, Window: time.Minute, Block: time.Minute, MaxBlock: time.Minute}
	a := ThrottleKey("login:user+ip", "alice", "192.0.2.1")
	b := ThrottleKey("login:user+ip", "alice", "192.0.2.2")
	if a == b || ThrottleKey("s", "a|b", "c") == ThrottleKey("s", "a", "b|c") {
		t.Fatal("distinct parts gave the same key")
	}
	if _, err := th.Fail(ctx, "login:user+ip", a, limit); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := th.Check(ctx, a); ok {
		t.Fatal("key a: got allowed, want blocked")
	}
	if ok, _, _ := th.Check(ctx, b); !ok {
		t.Fatal("key b: got blocked by key a's failures, want allowed")
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
	for range 10 {
		if blocked, err := th.Fail(context.Background(), "x", "k", Limit{Max: -1}); err != nil || blocked != 0 {
			t.Fatalf("limit off: got (%v, %v), want (0, nil)", blocked, err)
		}
	}
}

func TestThrottleDeleteStale(t *testing.T) {
	ctx := context.Background()
	th, clock := newTestThrottles(t)
	limit := Limit{Max: 2, Window: time.Minute, Block: 48 * time.Hour, MaxBlock: 48 * time.Hour}
	idle, blocked := ThrottleKey("t", "idle"), ThrottleKey("t", "blocked")
	if _, err := th.Fail(ctx, "t", idle, limit); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := th.Fail(ctx, "t", blocked, limit); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(ThrottleRetention - time.Second)
	if n, err := th.DeleteStale(ctx); err != nil || n != 0 {
		t.Fatalf("before retention: got (%d, %v), want (0, nil)", n, err)
	}
	clock.advance(time.Second)
	if n, err := th.DeleteStale(ctx); err != nil || n != 1 {
		t.Fatalf("after retention: got (%d, %v), want (1, nil): the idle counter only", n, err)
	}
	if ok, _, _ := th.Check(ctx, blocked); ok {
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

// TestRaceThrottleConcurrentFails counts attempts on one key from many
// goroutines (as from many instances): none may be lost and none may fail.
func TestRaceThrottleConcurrentFails(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	const workers, each = 8, 10
	limit := Limit{Max: 1000, Window: time.Hour, Block: time.Minute, MaxBlock: time.Hour}
	key := ThrottleKey("race", "one")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		// A Throttles per worker, like separate instances over one database.
		th := NewThrottles(db)
		wg.Go(func() {
			for range each {
				if _, err := th.Fail(ctx, "race", key, limit); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Fail: %v", err)
	}
	var row ThrottleCounter
	if err := db.Where("key = ?", key).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.Count != workers*each {
		t.Fatalf("got count %d, want %d", row.Count, workers*each)
	}
}
