package models

import (
	"context"
	"errors"
	"gatehouse/internal/validate"
	"strings"
	"testing"
)

// createsuperuser's bypass skips the validators but not the rules every
// account keeps.
func TestCreateSkipPasswordValidation(t *testing.T) {
	users := openTestUsers(t)
	ctx := context.Background()
	if _, err := users.Create(ctx, NewUser{Username: "weak", Password: "password", SkipPasswordValidation: true}); err != nil {
		t.Fatalf("a common password, bypassed: got %v, want created", err)
	}
	if _, err := users.Create(ctx, NewUser{Username: "weak2", Password: "password"}); err == nil {
		t.Fatal("a common password, not bypassed: got created")
	}
	for name, pw := range map[string]string{"empty": "", "control": "pass\x00word", "too long": strings.Repeat("a", validate.PasswordMaxLen+1)} {
		_, err := users.Create(ctx, NewUser{Username: "hard", Password: pw, SkipPasswordValidation: true})
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Fields["password"]) == 0 {
			t.Errorf("%s password, bypassed: got %v, want a password error", name, err)
		}
	}
}
