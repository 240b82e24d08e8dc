package components

// AccountPage is one page of the account area, listed in its navigation.
type AccountPage struct {
	Path, Label, TestID string
}

// Account area paths, used by routes, redirects and links.
const (
	ProfilePath   = "/accounts/profile/"
	SessionsPath  = "/accounts/sessions/"
	EmailPath     = "/accounts/email/"
	PasswordPath  = "/accounts/password_change/"
	ActivityPath  = "/accounts/activity/"
	DeletePath    = "/accounts/delete/"
	ReauthPath    = "/accounts/reauthenticate/"
	TwoFactorPath = "/accounts/2fa/"
)

// AccountPages are the pages of the account area, in the order the
// navigation shows them. Another area (two-factor) adds its entry here.
var AccountPages = []AccountPage{
	{ProfilePath, "Overview", "account-nav-profile"},
	{SessionsPath, "Sessions", "account-nav-sessions"},
	{EmailPath, "E-mail", "account-nav-email"},
	{PasswordPath, "Password", "account-nav-password"},
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
	}
	return ap.Label
}
