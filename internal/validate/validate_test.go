package validate

import (
	"strings"
	"testing"
)

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
