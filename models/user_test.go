package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// testHashParams keep argon2id real but cheap.
var testHashParams = HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestRaceCreateSameUsername creates one username, in different letter
// cases, from many goroutines at once: the unique index must let exactly one
// through and answer ErrDuplicateUsername to the rest.
func TestRaceCreateSameUsername(t *testing.T) {
	db := openTestDB(t)
	users := NewUsers(db, NewHasher(testHashParams, 8, 30*time.Second))
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		// Letter case and NFKC width variants are all one name.
		name := []string{"racer", "RACER", "ｒａｃｅｒ", "Racer"}[i%4]
		wg.Go(func() {
			<-start
			_, errs[i] = users.Create(context.Background(), NewUser{Username: name, Password: fmt.Sprintf("correct horse %d battery", i)})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDuplicateUsername):
		default:
			t.Errorf("create %d: got %v, want nil or ErrDuplicateUsername", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("got %d successful creations, want exactly 1", ok)
	}
	var count int64
	if err := db.Model(&User{}).Where("username_key = ?", "racer").Count(&count).Error; err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Fatalf("got %d rows for the username, want 1", count)
	}
}

// TestAuthenticateTimingUnknownVsWrongPassword checks that a login with an
// unknown username costs what a login with a wrong password costs, with the
// production hash parameters. Attempts are interleaved and medians compared,
// so load on the machine affects both sides alike; the bound is generous
// (the slower median within 4x of the faster) because without the dummy
// verification an unknown name is answered in microseconds, tens of times
// faster than a hash.
func TestAuthenticateTimingUnknownVsWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test hashes with production parameters")
	}
	ctx := context.Background()
	db := openTestDB(t)
	hasher := NewHasher(DefaultHashParams, 1, time.Minute)
	users := NewUsers(db, hasher)
	acc := NewAccounts(db, hasher, NewOutbox(db), Policy{})
	if _, err := users.Create(ctx, NewUser{Username: "known", Password: "the right password 42"}); err != nil {
		t.Fatal(err)
	}
	measure := func(username string) time.Duration {
		start := time.Now()
		if _, _, err := acc.verify(ctx, username, "a wrong password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("authenticate %q: got %v, want ErrInvalidCredentials", username, err)
		}
		return time.Since(start)
	}
	measure("known") // warm up: the dummy hash is computed on first use
	measure("unknown")
	const rounds = 15
	var known, unknown []time.Duration
	for i := range rounds {
		if i%2 == 0 {
			known = append(known, measure("known"))
			unknown = append(unknown, measure(fmt.Sprintf("nobody%d", i)))
		} else {
			unknown = append(unknown, measure(fmt.Sprintf("nobody%d", i)))
			known = append(known, measure("known"))
		}
	}
	mk, mu := median(known), median(unknown)
	t.Logf("median wrong password %v, median unknown user %v", mk, mu)
	lo, hi := min(mk, mu), max(mk, mu)
	// Without the dummy verification the gap is ~200x (0.1 ms vs 25 ms);
	// 4x plus 5 ms absorbs a loaded 2-core machine and still catches that.
	if hi > 4*lo+5*time.Millisecond {
		t.Fatalf("timing differs: median wrong password %v, median unknown username %v; want within 4x", mk, mu)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
