package models

import (
	"errors"
	"testing"
)

func TestTokenHashRejectsMalformed(t *testing.T) {
	for _, tok := range []string{"", "abc", string(make([]byte, 43)), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
		if _, err := TokenHash(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("TokenHash(%q): got %v, want ErrInvalidToken", tok, err)
		}
	}
}
