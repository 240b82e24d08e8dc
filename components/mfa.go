package components

import "time"

// MFAOverview is the two-factor overview page's content.
type MFAOverview struct {
	// Available is false without SECRET_KEY; Passkeys also needs BASE_URL.
	Available         bool
	PasskeysAvailable bool
	TOTP              bool
	TOTPAddedAt       time.Time
	RecoveryLeft      int
	RecoveryTotal     int
	RecoveryLow       bool
	Passkeys          []PasskeyItem
	// Next is where to go once a factor is set up (checked by the
	// handler: a local path or a protected app's URL), "" for none.
	Next string
}

// Enabled reports whether a second factor is set up.
func (o MFAOverview) Enabled() bool { return o.TOTP || len(o.Passkeys) > 0 }

// PasskeyItem is one passkey as listed.
type PasskeyItem struct {
	ID         uint
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// TOTPActivate is the authenticator-app set-up page's content.
type TOTPActivate struct {
	Secret string
	URI    string
	QR     string // data:image/png;base64,...
	State  string
	Next   string // as MFAOverview.Next
}

// SecondFactor is the second login step's content.
type SecondFactor struct {
	Next       string
	HasPasskey bool
	// PasskeyOptions and PasskeyState run the passkey ceremony in the page.
	PasskeyOptions string
	PasskeyState   string
}

// PasskeyAdd is what the passkeys page needs to add one.
type PasskeyAdd struct {
	Options string
	State   string
	// Full: the account has MAX_PASSKEYS passkeys; no add form is shown.
	Full bool
	Next string // as MFAOverview.Next
}

// MFAChangedEmail tells a user a factor was added or removed.
type MFAChangedEmail struct {
	Username string
	Change   string // "added" or "removed"
	What     string // "an authenticator app", "a passkey named …"
	By       string // "you" or "the site's staff"
	When     string
	SiteURL  string
}

// RecoveryCodeUsedEmail tells a user a recovery code signed them in.
type RecoveryCodeUsedEmail struct {
	Username string
	When     string
	Left     string
	IP       string
	SiteURL  string
}

func dateOf(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

func optionalDate(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return dateOf(*t)
}

// recoveryText is the downloadable text file of recovery codes.
func recoveryText(codes []string) string {
	s := "Gatehouse recovery codes\n\nEach code signs you in once when you cannot use your authenticator app or passkey.\nKeep them somewhere safe.\n\n"
	for _, c := range codes {
		s += c + "\n"
	}
	return s
}

// groups cuts s into pieces of n characters, for keys people type (shown
// apart by CSS, copied without spaces).
func groups(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
