package models

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/passhash"
	"sync"
	"testing"
	"time"
)

// testHashParams keep argon2id real but cheap.
var testHashParams = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestRaceCreateSameUsername creates one username, in different letter
// cases, from many goroutines at once: the unique index must let exactly one
// through and answer ErrDuplicateUsername to the rest.
func TestRaceCreateSameUsername(t *testing.T) {
	db := openTestDB(t)
	users := NewUsers(db, passhash.NewHasher(testHashParams, 8, 30*time.Second))
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

// TestUserDates: Dates reads when the user joined and last signed in, as
// the row holds them (nil before any sign-in), and ErrNotFound for nobody.
func TestUserDates(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	u, err := users.Create(ctx, NewUser{Username: "dora", Email: "dora@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	row, err := users.ByID(ctx, u.ID) // as stored (PostgreSQL keeps microseconds)
	if err != nil {
		t.Fatal(err)
	}
	joined, last, err := users.Dates(ctx, u.ID)
	if err != nil || !joined.Equal(row.DateJoined) || last != nil || joined.Location() != time.UTC {
		t.Fatalf("before a sign-in: got %v %v %v, want %v <nil>", joined, last, err, row.DateJoined)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	if err := users.DB().Model(&User{}).Where("id = ?", u.ID).Update("last_login", at).Error; err != nil {
		t.Fatal(err)
	}
	if _, last, err = users.Dates(ctx, u.ID); err != nil || last == nil || !last.Equal(at) {
		t.Fatalf("after a sign-in: got %v %v, want %v", last, err, at)
	}
	if _, _, err := users.Dates(ctx, u.ID+1000); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such user: got %v, want ErrNotFound", err)
	}
}
