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
