package passhash

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// cheap are hash parameters fast enough for tests.
var cheap = HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashIsArgon2idPHCAndVerifies(t *testing.T) {
	h := NewHasher(DefaultHashParams, 1, time.Second)
	s, err := h.Hash(context.Background(), "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash: got %q, want an argon2id PHC string with m=19456,t=2,p=1", s)
	}
	if s2, _ := h.Hash(context.Background(), "correct-horse-battery"); s2 == s {
		t.Errorf("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct-horse-battery", true}, {"correct-horse-batterY", false}, {"", false}} {
		ok, rehash, err := h.Verify(context.Background(), tc.pw, s)
		if err != nil || ok != tc.want || rehash {
			t.Errorf("Verify(%q): got ok=%v rehash=%v err=%v, want ok=%v rehash=false", tc.pw, ok, rehash, err, tc.want)
		}
	}
	_, rehash, _ := NewHasher(cheap, 1, time.Second).Verify(context.Background(), "correct-horse-battery", s)
	if !rehash {
		t.Errorf("Verify with other parameters: got rehash=false, want true")
	}
}

func TestVerifyRejectsMalformedAndHostileHashes(t *testing.T) {
	h := NewHasher(cheap, 1, time.Second)
	for _, s := range []string{
		"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB: a DoS
		"$argon2id$v=19$m=1024,t=1000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		ok, _, err := h.Verify(context.Background(), "x", s)
		if ok || err != nil {
			t.Errorf("Verify(%q): got ok=%v err=%v, want false, nil", s, ok, err)
		}
	}
}

func TestHasherBoundsConcurrencyAndTimesOut(t *testing.T) {
	h := NewHasher(HashParams{Memory: 8 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, 20*time.Millisecond)
	// Hold the only slot.
	h.slots <- struct{}{}
	_, err := h.Hash(context.Background(), "x")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with no free slot: got %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(context.Background(), "x", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with no free slot: got %v, want ErrBusy", err)
	}
	<-h.slots
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
}
