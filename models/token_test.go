package models

import (
	"errors"
	"testing"
)

// issueReset issues a reset token for u and returns its hash.

// TestResetPasswordConsumesOnce lines up parallel uses of one token after
// all of them passed the check, so only the conditional UPDATE can decide:
// exactly one wins.

func TestTokenHashRejectsMalformed(t *testing.T) {
	for _, tok := range []string{"", "abc", string(make([]byte, 43)), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
		if _, err := TokenHash(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("TokenHash(%q): got %v, want ErrInvalidToken", tok, err)
		}
	}
}

// TestTokenPurposeIsChecked: a token is only good for what it was issued for.

// TestChangesVoidTokens: a link mailed before a change of password, e-mail
// address or active status does not work after it, whichever flow made the
// change.
