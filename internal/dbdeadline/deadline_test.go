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

// TestDeadlineArmsOnFirstUse: the timer starts when Done or Err is first
// asked for, but the budget counts from With: a context first used after
// its budget has passed is already over; one paused before its first use
// and used while paused does not count the pause.
func TestDeadlineArmsOnFirstUse(t *testing.T) {
	ctx, cancel := With(context.Background(), 50*time.Millisecond)
	defer cancel()
	time.Sleep(120 * time.Millisecond)
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", ctx.Err())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a context first used after its budget did not end")
	}

	ctx2, cancel2 := With(context.Background(), 200*time.Millisecond)
	defer cancel2()
	time.Sleep(100 * time.Millisecond) // half the budget spent, unarmed
	resume := Pause(ctx2)
	_ = ctx2.Done() // armed while paused
	time.Sleep(300 * time.Millisecond)
	if ctx2.Err() != nil {
		t.Fatalf("paused time counted: %v", ctx2.Err())
	}
	start := time.Now()
	resume()
	select {
	case <-ctx2.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the deadline never fired after resuming")
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 190*time.Millisecond {
		t.Errorf("fired %v after resuming, want about the 100ms left", took)
	}

	parent, leave := context.WithCancel(context.Background())
	ctx3, cancel3 := With(parent, time.Hour)
	defer cancel3()
	leave()
	if !errors.Is(ctx3.Err(), context.Canceled) {
		// Err arms the watch; the parent's cancellation lands at once.
		select {
		case <-ctx3.Done():
		case <-time.After(2 * time.Second):
			t.Fatal("a parent cancelled before first use did not end it")
		}
	}
}

// TestErrArmsNothing: Err alone (a render asks, the request may never
// reach the database) sets up no timer, yet answers as the timer would:
// nil within the budget, DeadlineExceeded once it has passed (not counting
// a pause), Canceled once the parent is; Done is closed then too.
func TestErrArmsNothing(t *testing.T) {
	c, cancel := With(context.Background(), 80*time.Millisecond)
	defer cancel()
	p := c.(*Pausable)
	if err := c.Err(); err != nil || p.armed.Load() || p.timer != nil {
		t.Fatalf("fresh: got %v, armed %v; want nil, unarmed", err, p.armed.Load())
	}
	resume := Pause(c)
	time.Sleep(120 * time.Millisecond)
	if err := c.Err(); err != nil {
		t.Fatalf("paused past the budget: got %v, want nil", err)
	}
	resume()
	if err := c.Err(); err != nil || p.armed.Load() {
		t.Fatalf("resumed: got %v, armed %v; want nil, unarmed", err, p.armed.Load())
	}
	time.Sleep(120 * time.Millisecond)
	if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the budget: got %v, want DeadlineExceeded", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done is not closed once Err reported the deadline")
	}

	parent, leave := context.WithCancel(context.Background())
	c2, cancel2 := With(parent, time.Hour)
	defer cancel2()
	leave()
	if err := c2.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("parent canceled: got %v, want Canceled", err)
	}
	select {
	case <-c2.Done():
	default:
		t.Fatal("Done is not closed once Err reported the cancellation")
	}
}

// TestDoneChannelOnlyWhenAsked: a request that never asks for Done (the
// anonymous pages) costs no channel; one that asks gets an open channel
// that its end closes, and an end before anyone asked still gives a
// closed one.
func TestDoneChannelOnlyWhenAsked(t *testing.T) {
	c, cancel := With(context.Background(), time.Hour)
	p := c.(*Pausable)
	if p.done != nil {
		t.Fatal("a fresh deadline made a channel")
	}
	cancel()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done is open after cancel")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("got %v, want Canceled", c.Err())
	}

	c2, cancel2 := With(context.Background(), time.Hour)
	done := c2.Done()
	select {
	case <-done:
		t.Fatal("Done is closed before the end")
	default:
	}
	if c2.Done() != done {
		t.Fatal("Done changed between calls")
	}
	cancel2()
	select {
	case <-done:
	default:
		t.Fatal("the channel Done gave is open after cancel")
	}

	var embedded struct{ Pausable }
	embedded.Init(context.Background(), 50*time.Millisecond)
	select {
	case <-embedded.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an embedded deadline never ended")
	}
	if !errors.Is(embedded.Err(), context.DeadlineExceeded) {
		t.Fatalf("embedded: got %v, want DeadlineExceeded", embedded.Err())
	}
}
