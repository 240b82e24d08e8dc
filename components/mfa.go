package components

import (
	"context"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

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
	Factor   string // "totp", "passkey" or "all" ("" in older rows: What is used)
	Name     string // the passkey's name
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

func dateOf(ctx context.Context, t time.Time) string { return formatDate(ctx, t) }

func optionalDate(ctx context.Context, t *time.Time) string {
	if t == nil {
		return T(ctx, i18n.Message{ID: "time.never", Other: "never"})
	}
	return dateOf(ctx, *t)
}

// recoveryText is the downloadable text file of recovery codes.
func recoveryText(ctx context.Context, codes []string) string {
	s := T(ctx, i18n.Message{ID: "mfa.recovery_file.title", Other: "Gatehouse recovery codes"}) + "\n\n" +
		T(ctx, i18n.Message{ID: "mfa.recovery_file.use", Other: "Each code signs you in once when you cannot use your authenticator app or passkey."}) + "\n" +
		T(ctx, i18n.Message{ID: "mfa.recovery_file.keep", Other: "Keep them somewhere safe."}) + "\n\n"
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
