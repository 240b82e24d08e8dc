package components

import (
	"context"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/route"
	"strings"
)

// AccountPage is one page of the account area, listed in its navigation.
type AccountPage struct {
	Path   string
	Label  i18n.Message
	TestID string
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
	{ProfilePath, i18n.Message{ID: "nav.account.overview", Other: "Overview"}, "account-nav-profile"},
	{SessionsPath, i18n.Message{ID: "nav.account.sessions", Other: "Sessions"}, "account-nav-sessions"},
	{EmailPath, i18n.Message{ID: "nav.account.email", Other: "E-mail"}, "account-nav-email"},
	{ActivityPath, i18n.Message{ID: "nav.account.activity", Other: "Activity"}, "account-nav-activity"},
	{PasswordPath, i18n.Message{ID: "nav.account.password", Other: "Password"}, "account-nav-password"},
	{TwoFactorPath, i18n.Message{ID: "nav.account.two_factor", Other: "Two-factor"}, "account-nav-2fa"},
	{ConnectionsPath, i18n.Message{ID: "nav.account.connections", Other: "Connected accounts"}, "account-nav-3rdparty"},
	{AppsPath, i18n.Message{ID: "nav.account.apps", Other: "Apps"}, "account-nav-apps"},
	{DeletePath, i18n.Message{ID: "nav.account.delete", Other: "Delete account"}, "account-nav-delete"},
}

// accountLinkText is how the hub names a page in its list of links.
func accountLinkText(ctx context.Context, ap AccountPage) string {
	switch ap.Path {
	case PasswordPath:
		return T(ctx, i18n.Message{ID: "hub.link.password", Other: "Change your password"})
	case SessionsPath:
		return T(ctx, i18n.Message{ID: "hub.link.sessions", Other: "Where you are signed in"})
	case EmailPath:
		return T(ctx, i18n.Message{ID: "hub.link.email", Other: "Change your e-mail address"})
	case ActivityPath:
		return T(ctx, i18n.Message{ID: "hub.link.activity", Other: "Your security activity"})
	case DeletePath:
		return T(ctx, i18n.Message{ID: "hub.link.delete", Other: "Delete your account"})
	case TwoFactorPath:
		return T(ctx, i18n.Message{ID: "hub.link.two_factor", Other: "Two-factor authentication and passkeys"})
	case ConnectionsPath:
		return T(ctx, i18n.Message{ID: "hub.link.connections", Other: "Sign-ins through other providers"})
	case AppsPath:
		return T(ctx, i18n.Message{ID: "hub.link.apps", Other: "Apps you signed in to with Gatehouse"})
	}
	return T(ctx, ap.Label)
}

// profileFactorsText is the hub's one line on second factors: a list of
// whole phrases, each translated.
func profileFactorsText(ctx context.Context, f ProfileFactors) string {
	if !f.TOTP && f.Passkeys == 0 {
		return T(ctx, i18n.Message{ID: "hub.factors.off", Other: "Off — set up an authenticator app or a passkey"})
	}
	var parts []string
	if f.TOTP {
		parts = append(parts, T(ctx, i18n.Message{ID: "hub.factors.totp", Other: "Authenticator app on"}))
	}
	if f.Passkeys > 0 {
		parts = append(parts, N(ctx, i18n.Message{ID: "hub.factors.passkeys", One: "{{.Count}} passkey", Other: "{{.Count}} passkeys"}, f.Passkeys))
	}
	parts = append(parts, N(ctx, i18n.Message{ID: "hub.factors.recovery", One: "{{.Count}} recovery code left", Other: "{{.Count}} recovery codes left"}, f.RecoveryLeft))
	return strings.Join(parts, T(ctx, i18n.Message{ID: "hub.factors.separator", Description: "between the items of a list", Other: ", "}))
}
