package models

// E-mail verification modes (EMAIL_VERIFICATION, django-allauth's names).
const (
	// VerifyOptional mails a confirmation link at sign-up and reminds the
	// user until the address is confirmed.
	VerifyOptional = "optional"
	// VerifyMandatory lets nobody with an unconfirmed address sign in.
	VerifyMandatory = "mandatory"
	// VerifyNone sends no confirmation and shows no state.
	VerifyNone = "none"
)

// verification returns the policy's mode, optional when unset.
func (p Policy) verification() string {
	if p.EmailVerification == "" {
		return VerifyOptional
	}
	return p.EmailVerification
}
