package models

import (
	"context"
	"testing"
)

func mustCreate(t *testing.T, users *Users, nu NewUser) *User {
	t.Helper()
	if nu.Password == "" {
		nu.Password = "a long enough password"
	}
	u, err := users.Create(context.Background(), nu)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abd", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF", "", false},
		{"x\uD7FF", "x\uE000", true},
		{"é", "ê", true},
		{"", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q): got %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
