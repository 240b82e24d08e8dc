package components

// Reauth is what the re-authentication page shows.
type Reauth struct {
	// Next is where a confirmation goes back to.
	Next string
	// NeedCode asks for a TOTP or recovery code beside the password: the
	// user has a second factor.
	NeedCode bool
	// PasskeyOptions and PasskeyState run a passkey confirmation in the
	// page; empty when the user has no passkey.
	PasskeyOptions string
	PasskeyState   string
	// Providers are the user's connected providers that can confirm it
	// is them instead (sign in there again).
	Providers []ProviderButton
}
