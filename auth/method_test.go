package auth

import "testing"

// TestSignInMethodsNameBothSteps: after a second step the session's
// method names the first step too when it was another provider, and
// forward auth's two_factor policy counts every such method (and no
// one-step method) as a second factor.
func TestSignInMethodsNameBothSteps(t *testing.T) {
	for _, tc := range []struct{ first, factor, want string }{
		{"password", AuthPasswordTOTP, "password+totp"},
		{"", AuthPasswordRecovery, "password+recovery"},
		{"oidc:corp", AuthPasswordTOTP, "oidc:corp+totp"},
		{"oidc:corp", AuthPasswordRecovery, "oidc:corp+recovery"},
		{"github", AuthPasswordPasskey, "github+passkey"},
		{"signup", AuthPasswordTOTP, "password+totp"},
		{"oidc:corp", AuthPasskey, "oidc:corp+passkey"},
	} {
		if got := withFirstStep(tc.first, tc.factor); got != tc.want {
			t.Errorf("withFirstStep(%q, %q): got %q, want %q", tc.first, tc.factor, got, tc.want)
		}
	}
	for method, want := range map[string]bool{
		"password+totp": true, "password+recovery": true, "password+passkey": true, "passkey": true,
		"oidc:corp+totp": true, "github+recovery": true, "oidc:a-very-long-provider-id+passkey": true,
		"password": false, "signup": false, "oidc:corp": false, "github": false, "": false,
		"+totp": false, "oidc:corp+sms": false, "password+": false,
	} {
		if got := IsSecondFactor(method); got != want {
			t.Errorf("IsSecondFactor(%q): got %v, want %v", method, got, want)
		}
	}
}
