package components

import (
	"gatehouse/internal/route"
	"strconv"
	"strings"
)

// AccountPage is one page of the account area, listed in its navigation.
type AccountPage struct {
	Path, Label, TestID string
}

// Account area paths (from the route table), used by redirects and links.
var (
	ProfilePath   = route.URL(route.Profile)
	SessionsPath  = route.URL(route.Sessions)
	EmailPath     = route.URL(route.Email)
	PasswordPath  = route.URL(route.PasswordChange)
	ActivityPath  = route.URL(route.Activity)
	DeletePath    = route.URL(route.Delete)
	ReauthPath    = route.URL(route.Reauth)
	TwoFactorPath = route.URL(route.TwoFactor)
	// ConnectionsPath is /accounts/3rdparty/ (sign-ins through other
	// providers).
	ConnectionsPath = route.URL(route.Connections)
	AppsPath        = route.URL(route.Apps)
)

// AccountPages are the pages of the account area, in the order the
// navigation shows them. Another area (two-factor) adds its entry here.
var AccountPages = []AccountPage{
	{ProfilePath, "Overview", "account-nav-profile"},
	{SessionsPath, "Sessions", "account-nav-sessions"},
	{EmailPath, "E-mail", "account-nav-email"},
	{ActivityPath, "Activity", "account-nav-activity"},
	{PasswordPath, "Password", "account-nav-password"},
	{TwoFactorPath, "Two-factor", "account-nav-2fa"},
	{ConnectionsPath, "Connected accounts", "account-nav-3rdparty"},
	{AppsPath, "Apps", "account-nav-apps"},
	{DeletePath, "Delete account", "account-nav-delete"},
}

// accountLinkText is how the hub names a page in its list of links.
func accountLinkText(ap AccountPage) string {
	switch ap.Path {
	case PasswordPath:
		return "Change your password"
	case SessionsPath:
		return "Where you are signed in"
	case EmailPath:
		return "Change your e-mail address"
	case ActivityPath:
		return "Your security activity"
	case DeletePath:
		return "Delete your account"
	case TwoFactorPath:
		return "Two-factor authentication and passkeys"
	case ConnectionsPath:
		return "Sign-ins through other providers"
	case AppsPath:
		return "Apps you signed in to with Gatehouse"
	}
	return ap.Label
}

// profileFactorsText is the hub's one line on second factors.
func profileFactorsText(f ProfileFactors) string {
	if !f.TOTP && f.Passkeys == 0 {
		return "Off — set up an authenticator app or a passkey"
	}
	var parts []string
	if f.TOTP {
		parts = append(parts, "authenticator app on")
	}
	switch f.Passkeys {
	case 0:
	case 1:
		parts = append(parts, "1 passkey")
	default:
		parts = append(parts, Plural(f.Passkeys, "passkey", "passkeys"))
	}
	if f.RecoveryLeft == 1 {
		parts = append(parts, "1 recovery code left")
	} else {
		parts = append(parts, strconv.Itoa(f.RecoveryLeft)+" recovery codes left")
	}
	s := strings.Join(parts, ", ")
	return strings.ToUpper(s[:1]) + s[1:]
}
