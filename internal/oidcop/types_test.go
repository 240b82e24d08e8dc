package oidcop

import "testing"

// TestAMR: the amr claim of every way a session signs in, a sign-in
// through another provider ("fed") with its second factor included.
func TestAMR(t *testing.T) {
	for method, want := range map[string]string{
		"password": "pwd", "signup": "pwd", "password+totp": "pwd otp mfa", "password+recovery": "pwd mfa",
		"password+passkey": "pwd hwk mfa", "passkey": "hwk user",
		"oidc:corp": "fed", "github": "fed", "oidc:corp+totp": "fed otp mfa", "github+recovery": "fed mfa",
		"oidc:corp+passkey": "fed hwk mfa", "": "", "oidc:corp+sms": "", "magic": "",
	} {
		if got := AMR(method); got != want {
			t.Errorf("AMR(%q): got %q, want %q", method, got, want)
		}
	}
}

// TestClientIDsNeverLookLikeFlags: `gatehouse oidc-client remove ID`
// must not read an ID as a flag; base64url starts one in 64 with "-".
func TestClientIDsNeverLookLikeFlags(t *testing.T) {
	for range 2000 {
		id, err := newClientID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("client ID %q", id)
		}
	}
}
