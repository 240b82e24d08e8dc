package models

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/testdb"
)

// TestEventOverviewQueries: the histogram puts each event in its bucket
// (one grouped query), the list filters by kind, account, address and time
// and pages newest first, and the top lists rank accounts and addresses.
func TestEventOverviewQueries(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testdb.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	ev := NewEvents(db)
	now := time.Now().UTC().Truncate(time.Hour)
	since := now.Add(-24 * time.Hour)
	uid1, uid2 := uint(1), uint(2)
	rec := func(kind EventKind, uid *uint, ip string, at time.Time) {
		t.Helper()
		if err := ev.Record(ctx, AuthEvent{Kind: kind, UserID: uid, IP: ip, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Bucket 0 (first hour), bucket 5, bucket 23 (last hour), and one
	// event outside the window on each side.
	rec(EventLoginFailed, &uid1, "198.51.100.1", since.Add(10*time.Minute))
	rec(EventLoginFailed, &uid1, "198.51.100.1", since.Add(5*time.Hour+59*time.Minute+59*time.Second))
	rec(EventLoginFailed, &uid2, "198.51.100.2", since.Add(5*time.Hour))
	rec(EventLoginFailed, nil, "198.51.100.1", since.Add(23*time.Hour+30*time.Minute))
	rec(EventLoginSucceeded, &uid2, "198.51.100.2", since.Add(23*time.Hour))
	rec(EventLoginFailed, &uid1, "198.51.100.1", since.Add(-time.Second))
	rec(EventLoginFailed, &uid1, "198.51.100.1", now)

	h, err := ev.Histogram(ctx, []EventKind{EventLoginFailed, EventLoginSucceeded}, since, time.Hour, 24)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int64{0: 1, 5: 2, 23: 1}
	for i, n := range h[EventLoginFailed] {
		if n != want[i] {
			t.Errorf("failed bucket %d: got %d, want %d (all: %v)", i, n, want[i], h[EventLoginFailed])
		}
	}
	if h[EventLoginSucceeded][23] != 1 {
		t.Errorf("succeeded: got %v, want one in bucket 23", h[EventLoginSucceeded])
	}

	rows, total, err := ev.List(ctx, EventFilter{Kinds: []EventKind{EventLoginFailed}, UserID: &uid1, Since: since, Until: now}, 0, 1)
	if err != nil || total != 2 || len(rows) != 1 || !rows[0].CreatedAt.Equal(since.Add(5*time.Hour+59*time.Minute+59*time.Second)) {
		t.Fatalf("list: got %d of %d (%v), %v; want the newer of uid1's 2 in the window", len(rows), total, rows, err)
	}
	_, total, _ = ev.List(ctx, EventFilter{IP: "198.51.100.2"}, 0, 10)
	if total != 2 {
		t.Errorf("by address: got %d, want 2", total)
	}
	top, err := ev.TopAccounts(ctx, []EventKind{EventLoginFailed}, since, 10)
	if err != nil || len(top) != 2 || top[0].UserID != 1 || top[0].N != 3 || top[1].UserID != 2 {
		t.Errorf("top accounts: got %+v, %v; want uid 1 (3) then 2 (1)", top, err)
	}
	ips, err := ev.TopAddresses(ctx, []EventKind{EventLoginFailed}, since, 10)
	if err != nil || len(ips) != 2 || ips[0].IP != "198.51.100.1" || ips[0].N != 4 {
		t.Errorf("top addresses: got %+v, %v", ips, err)
	}
}
