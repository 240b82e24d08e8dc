// Package components holds Gatehouse's templ views. Components are pure: they
// take typed view models and never touch the database or the request.
package components

import "time"

// Page is what the layout needs on every full page.
type Page struct {
	Title   string
	User    *CurrentUser // nil when signed out
	Flashes []Flash
	// Narrow pages (forms) use a narrower column.
	Narrow bool
	// UnverifiedEmail, when set, shows the "confirm your address" banner
	// (EMAIL_VERIFICATION=optional).
	UnverifiedEmail string
	// LanguageNext is where the footer's language menu returns to ("":
	// home).
	LanguageNext string
}

// CurrentUser is the signed-in user as the layout shows them.
type CurrentUser struct {
	Username string
	IsStaff  bool
}

// Flash is a one-time message; Level is success, info, warning or error.
type Flash struct {
	Level   string
	Message string
	// Link and LinkText, when set, follow the message as a link.
	Link, LinkText string
}

// Form is a submitted form as a view shows it again: the values to keep and
// the messages per field ("" for messages about the whole form).
type Form struct {
	Values map[string]string
	Errors map[string][]string
}

// Value returns the submitted value of a field.
func (f Form) Value(name string) string { return f.Values[name] }

// FieldErrors returns the messages of one field.
func (f Form) FieldErrors(name string) []string { return f.Errors[name] }

// NonFieldErrors returns the messages about the form as a whole.
func (f Form) NonFieldErrors() []string { return f.Errors[""] }

// HasErrors reports whether any message is set.
func (f Form) HasErrors() bool {
	for _, m := range f.Errors {
		if len(m) > 0 {
			return true
		}
	}
	return false
}

// firstInvalid returns the name of the first field, in order, with an error.
func (f Form) firstInvalid(order ...string) string {
	for _, n := range order {
		if len(f.Errors[n]) > 0 {
			return n
		}
	}
	return ""
}

// Profile is what the profile page shows of a user.
type Profile struct {
	Username   string
	Email      string
	Groups     []string // the account's groups, sorted
	DateJoined time.Time
	LastLogin  *time.Time
	// EmailVerified says whether the address was confirmed; Verification
	// is the EMAIL_VERIFICATION mode ("none" hides the state).
	EmailVerified bool
	Verification  string
	// TwoFactor is the state of the account's second factors, shown so
	// that a factor the owner never added (after a stolen session, or
	// after a password reset) is seen on the hub.
	TwoFactor ProfileFactors
	// Language and TimeZone are the account's saved preferences ("" when
	// none: the browser's language, UTC); TimeZoneError says why the zone
	// just submitted was refused.
	Language, TimeZone, TimeZoneError string
}

// ProfileFactors is the two-factor part of the account hub.
type ProfileFactors struct {
	Available    bool // SECRET_KEY is set
	TOTP         bool
	Passkeys     int
	RecoveryLeft int
}

// firstOr is s, or def when s is empty.
func firstOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
