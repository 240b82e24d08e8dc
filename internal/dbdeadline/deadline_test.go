package dbdeadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDatabaseDeadlinePausesForHashing: the deadline ends the context on
// time, does not count time paused (hashing), and the parent's
// cancellation (a client that left) ends it at once as Canceled.
func TestDatabaseDeadlinePausesForHashing(t *testing.T) {
	ctx, cancel := With(context.Background(), 150*time.Millisecond)
	defer cancel()
	resume := Pause(ctx)
	time.Sleep(300 * time.Millisecond) // "hashing": longer than the whole budget
	if ctx.Err() != nil {
		t.Fatalf("the deadline counted paused time: %v", ctx.Err())
	}
	resume()
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", ctx.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never fired after resuming")
	}

	parent, leave := context.WithCancel(context.Background())
	ctx2, cancel2 := With(parent, time.Hour)
	defer cancel2()
	leave()
	select {
	case <-ctx2.Done():
		if !errors.Is(ctx2.Err(), context.Canceled) {
			t.Fatalf("got %v, want Canceled", ctx2.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancellation did not end it")
	}
}
