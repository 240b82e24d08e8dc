package models

import (
	"context"
	"errors"
	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"strings"
	"testing"
)

func TestUsernameInvisibleCharactersRefused(t *testing.T) {
	for _, s := range []string{
		"admin\u3164",     // Hangul filler
		"\u115Fadmin",     // Hangul choseong filler
		"ad\u200Bmin",     // zero-width space
		"ad\u200Dmin",     // zero-width joiner
		"admin\uFE0F",     // variation selector
		"ad\u2060min",     // word joiner
		"admin\u00AD",     // soft hyphen
		"\U000E0061dmin",  // tag character
		"ad\u034Fmin",     // combining grapheme joiner
		"admin\U000E0100", // variation selector supplement
		"adm\u1160in",     // Hangul jungseong filler
		"admin\uFFA0",     // halfwidth Hangul filler
	} {
		if msg := validate.ValidateUsername(validate.NormalizeUsername(s)); !strings.Contains(msg, "invisible") {
			t.Errorf("ValidateUsername(%+q): got %q, want the invisible-character message", s, msg)
		}
	}
	for _, s := range []string{"admin", "José", "李小龙", "user.name+tag@x", "Ωmega", "한글이름"} {
		if msg := validate.ValidateUsername(validate.NormalizeUsername(s)); msg != "" {
			t.Errorf("ValidateUsername(%q): got %q, want it accepted", s, msg)
		}
	}
}

// Look-alikes of an existing username are refused as duplicates, through
// the model API (sign-up, admin add and import all create users here).
func TestLookalikeUsernamesCollide(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	for _, name := range []string{"admin", "leo", "paypal"} {
		mustCreate(t, users, NewUser{Username: name})
	}
	for _, s := range []string{
		"\u0430dmin",      // Cyrillic а
		"\u0430dm\u0456n", // Cyrillic а and і
		"ADM\u0399N",      // Greek capital iota
		"\u04C0eo",        // Cyrillic palochka for l
		"\u04C0EO",        // the same, upper case
		"\u04CFeo",        // small palochka: i in Unicode's data, l in capitals
		"ieo",             // likewise: I and l look alike
		"Ieo",             // capital I for l
		"1eo",             // digit one for l
		"\u0410DMIN",      // Cyrillic А, upper case
		"p\u0430yp\u0430l",
		"adrnin", // r + n for m
	} {
		_, err := users.Create(ctx, NewUser{Username: s, Password: "a long enough password"})
		if !errors.Is(err, ErrDuplicateUsername) {
			t.Errorf("Create(%+q) beside admin/leo/paypal: got %v, want ErrDuplicateUsername", s, err)
		}
		if taken, err := users.UsernameTaken(ctx, s); err != nil || !taken {
			t.Errorf("UsernameTaken(%+q): got %v, %v; want true", s, taken, err)
		}
	}
	for _, s := range []string{"admins", "leon", "pay.pal"} {
		if _, err := users.Create(ctx, NewUser{Username: s, Password: "a long enough password"}); err != nil {
			t.Errorf("Create(%q): got %v, want a new account", s, err)
		}
	}
}

// The data migration on a database that already has look-alikes and a
// shared address (made by the release before the rule): nobody is lost,
// everyone still logs in, the oldest keeps the look-alike identity, the
// address keeps working for exactly one account, and the rules hold from
// then on.
func TestUserKeysMigrationSettlesLegacyDuplicates(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, loadLegacyDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(db) })
	users := NewUsers(db, passhash.NewHasher(cheap, 2, 0))
	byName := map[string]*User{}
	for _, name := range []string{"admin", "alice", "Alice2", "\u0430dmin"} {
		u, err := users.ByUsername(ctx, name)
		if err != nil {
			t.Fatalf("%q after the migration: %v", name, err)
		}
		byName[name] = u
	}
	if a, a2 := byName["alice"], byName["Alice2"]; a.EmailKey != "alice@example.com" || a2.EmailKey != "" || a2.Email != "ALICE@example.com" {
		t.Errorf("shared address: alice key %q, Alice2 key %q address %q; want the older keeps the key, the other keeps its address with no key", a.EmailKey, a2.EmailKey, a2.Email)
	}
	found, err := users.ActiveByEmail(ctx, "alice@EXAMPLE.com")
	if err != nil || len(found) != 1 || found[0].Username != "alice" {
		t.Errorf("reset look-up of the shared address: got %v (%v), want only alice", found, err)
	}
	if _, err := users.Create(ctx, NewUser{Username: "\u0430dm\u0456n", Password: "a long enough password"}); !errors.Is(err, ErrDuplicateUsername) {
		t.Errorf("new look-alike of admin after the migration: got %v, want ErrDuplicateUsername", err)
	}
	if _, err := users.Create(ctx, NewUser{Username: "third", Email: "Alice@example.com", Password: "a long enough password"}); !errors.Is(err, ErrDuplicateEmail) {
		t.Errorf("new account with the shared address: got %v, want ErrDuplicateEmail", err)
	}
}
