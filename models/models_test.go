package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
)

var cheap = HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// openTestUsers returns the user operations over a fresh database, hashing
// with cheap parameters.
func openTestUsers(t *testing.T) *Users {
	t.Helper()
	return NewUsers(openTestDB(t), NewHasher(cheap, 2, time.Second))
}

// openTestAccounts returns the flows over a fresh database, with login
// limits off unless the policy sets them.

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

func TestUsernameNormalisationAndRules(t *testing.T) {
	cases := []struct {
		in, norm, key string
		valid         bool
	}{
		{"alice", "alice", "alice", true},
		{"  Alice  ", "Alice", "alice", true},
		{"ＡＬＩＣＥ", "ALICE", "alice", true}, // full-width folds to ASCII under NFKC
		{"Straße", "Straße", "strasse", true},
		{"ﬁle", "file", "file", true}, // ligature
		{"a.b@c+d-e_f", "a.b@c+d-e_f", "a.b@c+d-e_f", true},
		{"bad name", "bad name", "bad name", false},
		{"semi;colon", "semi;colon", "semi;colon", false},
		{"", "", "", false},
		{strings.Repeat("a", 151), strings.Repeat("a", 151), strings.Repeat("a", 151), false},
		{"nul\x00", "nul\x00", "nul\x00", false},
	}
	for _, tc := range cases {
		if got := NormalizeUsername(tc.in); got != tc.norm {
			t.Errorf("NormalizeUsername(%q): got %q, want %q", tc.in, got, tc.norm)
		}
		if got := UsernameKey(tc.in); got != tc.key {
			t.Errorf("UsernameKey(%q): got %q, want %q", tc.in, got, tc.key)
		}
		if got := ValidateUsername(NormalizeUsername(tc.in)) == ""; got != tc.valid {
			t.Errorf("ValidateUsername(%q): got valid=%v, want %v", tc.in, got, tc.valid)
		}
	}
}

func TestPasswordValidators(t *testing.T) {
	cases := []struct {
		pw, user, email string
		want            []string // substrings of expected messages; nil = valid
	}{
		{"correct-horse-battery", "alice", "alice@example.com", nil},
		{"short1!", "alice", "", []string{"too short"}},
		{"password", "alice", "", []string{"too common"}},
		{"12345678901", "alice", "", []string{"entirely numeric"}},
		{"alice2024", "alice2024", "", []string{"similar to the username"}},
		{"examplecom", "zed", "bob@example.com", []string{"similar to the email"}},
		{strings.Repeat("x", 1025), "alice", "", []string{"too long"}},
		{"has\x00nul-inside", "alice", "", []string{"control characters"}},
	}
	for _, tc := range cases {
		got := ValidatePassword(tc.pw, tc.user, tc.email)
		if tc.want == nil && got != nil {
			t.Errorf("ValidatePassword(%.20q): got %v, want valid", tc.pw, got)
		}
		joined := strings.Join(got, " | ")
		for _, w := range tc.want {
			if !strings.Contains(joined, w) {
				t.Errorf("ValidatePassword(%.20q): got %q, want a message containing %q", tc.pw, joined, w)
			}
		}
	}
	if n := len(commonPasswords()); n < 19000 {
		t.Errorf("common password list: got %d entries, want Django's ~20,000", n)
	}
}

func TestSessionIDFromToken(t *testing.T) {
	_, id, err := newSessionToken()
	if err != nil || len(id) != 64 {
		t.Fatalf("newSessionToken: %q %v", id, err)
	}
	for _, tok := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("!", 43), strings.Repeat("A", 42) + "\x00"} {
		if _, ok := SessionIDFromToken(tok); ok {
			t.Errorf("SessionIDFromToken(%q): got ok, want rejected", tok)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	testdb.SkipOnPostgres(t, "checks SQLite's pragmas")
	users := openTestUsers(t)
	var mode string
	var fk, busy int
	users.db.Raw("PRAGMA journal_mode").Scan(&mode)
	users.db.Raw("PRAGMA foreign_keys").Scan(&fk)
	users.db.Raw("PRAGMA busy_timeout").Scan(&busy)
	if mode != "wal" || fk != 1 || busy < 1000 {
		t.Errorf("pragmas: journal_mode=%q foreign_keys=%d busy_timeout=%d, want wal, 1, >=1000", mode, fk, busy)
	}
	for _, bad := range []string{"postgres://x", "mysql://x", "file:x.db?mode=ro"} {
		if _, err := sqliteDSN(bad, DefaultBusyTimeout); err == nil {
			t.Errorf("sqliteDSN(%q): got nil error", bad)
		}
	}
}

// A path is a path: characters SQLite's URI filenames treat specially
// ('%' escapes, '#' fragment) name the file they spell.
func TestOpenPathWithURICharacters(t *testing.T) {
	for _, name := range []string{"50%dd", "a#b", "100%25"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "g.db")
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			t.Cleanup(func() { _ = Close(db) })
			if err := db.Exec("CREATE TABLE probe (x INTEGER)").Error; err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("got no file at %s: %v", path, err)
			}
		})
	}
}
