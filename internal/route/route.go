// Package route is the table of Gatehouse's URLs, like a Django project's
// urls.py: every path is written here once, under a name. handlers/routes.go
// registers each route by its name; handlers, components and e-mails build
// URLs from names with URL (Django's reverse() and {% url %}), never from
// string literals, so a path can change in one place. Static assets are
// the one exception (assets.Path).
package route

import (
	"fmt"
	"net/url"
	"strings"
)

// Name names a route.
type Name string

// The routes, by who may enter (the groups of handlers/routes.go).
const (
	// Outside the app's middleware: no session, no database.
	Healthz Name = "healthz"
	Readyz  Name = "readyz"

	// Public.
	Home              Name = "home"
	Logout            Name = "logout"
	SetLanguage       Name = "set_language"
	PasswordReset     Name = "password_reset"
	PasswordResetDone Name = "password_reset_done"
	ResetLink         Name = "password_reset_confirm" // :token
	SetPassword       Name = "password_reset_set"
	ResetComplete     Name = "password_reset_complete"
	AccountDeleted    Name = "account_deleted"
	ConfirmEmail      Name = "account_confirm_email" // :token
	SecondStep        Name = "mfa_authenticate"
	SecondStepPasskey Name = "mfa_authenticate_passkey"
	PasskeyLoginOpts  Name = "webauthn_login_options"
	PasskeyLogin      Name = "webauthn_login"
	SocialCallback    Name = "openid_connect_callback" // :provider
	GitHubCallback    Name = "github_callback"
	// Forward auth (handlers/forward.go): asked by reverse proxies.
	ForwardAuth    Name = "forward_auth"
	ForwardRequest Name = "forward_auth_request"
	ForwardDenied  Name = "forward_auth_denied"
	LoggedOut      Name = "logged_out"

	// The OpenID provider (internal/oidcop, handlers/oidc.go). op serves
	// the first five itself; the rest are ours.
	OIDCAuthorize  Name = "oidc_authorize"
	OIDCToken      Name = "oidc_token"
	OIDCUserinfo   Name = "oidc_userinfo"
	OIDCRevoke     Name = "oidc_revoke"
	OIDCIntrospect Name = "oidc_introspect"
	OIDCDiscovery  Name = "oidc_discovery"
	OIDCKeys       Name = "oidc_keys"
	OIDCEndSession Name = "oidc_end_session"
	OIDCContinue   Name = "oidc_continue"

	// Guests only.
	Login          Name = "login"
	Signup         Name = "signup"
	SignupValidate Name = "signup_validate"      // :field
	SocialLogin    Name = "openid_connect_login" // :provider
	GitHubLogin    Name = "github_login"
	SocialSignup   Name = "socialaccount_signup"

	// Signed-in users.
	Profile               Name = "profile"
	TimeZone              Name = "time_zone"
	Sessions              Name = "sessions"
	Activity              Name = "activity"
	SessionRevoke         Name = "session_revoke" // :sid
	SessionsRevokeOthers  Name = "sessions_revoke_others"
	Reauth                Name = "reauthenticate"
	ReauthPasskey         Name = "reauthenticate_passkey"
	ReauthUpstream        Name = "reauthenticate_upstream"
	EmailSendVerification Name = "email_send_verification"
	PasswordChangeDone    Name = "password_change_done"
	TwoFactor             Name = "mfa_index"
	Apps                  Name = "apps"
	AppRemove             Name = "app_remove" // :client

	// Signed in, with a recent confirmation (sudo).
	PasswordChange        Name = "password_change"
	Email                 Name = "account_email"
	Delete                Name = "account_delete"
	TOTPActivate          Name = "mfa_activate_totp"
	TOTPDeactivate        Name = "mfa_deactivate_totp"
	RecoveryCodes         Name = "mfa_view_recovery_codes"
	RecoveryCodesGenerate Name = "mfa_generate_recovery_codes"
	Passkeys              Name = "mfa_list_webauthn"
	PasskeyRemove         Name = "mfa_remove_webauthn" // :pid
	Connections           Name = "socialaccount_connections"
	SocialConnect         Name = "socialaccount_connect"
	SocialDisconnect      Name = "socialaccount_disconnect" // :iid

	// Staff.
	AdminIndex             Name = "admin_index"
	AdminEvents            Name = "admin_events"
	AdminUsers             Name = "admin_users"
	AdminUserAdd           Name = "admin_user_add"
	AdminUser              Name = "admin_user"                // :id
	AdminSessionRevoke     Name = "admin_user_session_revoke" // :id, :sid
	AdminSessionsRevokeAll Name = "admin_user_sessions_revoke_all"
	AdminPasswordReset     Name = "admin_user_password_reset"
	AdminEmailVerified     Name = "admin_user_email_verified"
	AdminSetPassword       Name = "admin_user_password"
	AdminUserDelete        Name = "admin_user_delete"
	AdminMFA               Name = "admin_user_mfa"
	AdminMFAReset          Name = "admin_user_mfa_reset"
	AdminMailRetry         Name = "admin_outbox_retry" // :id
	AdminGroups            Name = "admin_groups"
	AdminGroup             Name = "admin_group"        // :gid
	AdminGroupDelete       Name = "admin_group_delete" // :gid
	AdminUserGroups        Name = "admin_user_groups"  // :id
	AdminAccessRules       Name = "admin_access_rules"
	AdminOIDCClients       Name = "admin_oidc_clients"
	AdminOIDCClientAdd     Name = "admin_oidc_client_add"
	AdminOIDCClient        Name = "admin_oidc_client"        // :client
	AdminOIDCClientSecret  Name = "admin_oidc_client_secret" // :client
	AdminOIDCClientDelete  Name = "admin_oidc_client_delete" // :client
)

// patterns is the table: each route's Gin pattern.
var patterns = map[Name]string{
	Healthz: "/healthz",
	Readyz:  "/readyz",

	Home:              "/",
	Logout:            "/accounts/logout/",
	SetLanguage:       "/i18n/setlang/",
	PasswordReset:     "/accounts/password_reset/",
	PasswordResetDone: "/accounts/password_reset/done/",
	ResetLink:         "/accounts/reset/:token/",
	SetPassword:       "/accounts/reset/set-password/",
	ResetComplete:     "/accounts/reset/done/",
	AccountDeleted:    "/accounts/deleted/",
	ConfirmEmail:      "/accounts/confirm-email/:token/",
	SecondStep:        "/accounts/2fa/authenticate/",
	SecondStepPasskey: "/accounts/2fa/authenticate/passkey/",
	PasskeyLoginOpts:  "/accounts/2fa/webauthn/login/options/",
	PasskeyLogin:      "/accounts/2fa/webauthn/login/",
	SocialCallback:    "/accounts/oidc/:provider/login/callback/",
	GitHubCallback:    "/accounts/github/login/callback/",
	ForwardAuth:       "/auth/forward",
	ForwardRequest:    "/auth/request",
	ForwardDenied:     "/auth/denied/",
	LoggedOut:         "/accounts/logged-out/",

	OIDCAuthorize:  "/oidc/authorize/",
	OIDCToken:      "/oidc/token/",
	OIDCUserinfo:   "/oidc/userinfo/",
	OIDCRevoke:     "/oidc/revoke/",
	OIDCIntrospect: "/oidc/introspect/",
	OIDCDiscovery:  "/.well-known/openid-configuration",
	OIDCKeys:       "/oidc/keys/",
	OIDCEndSession: "/oidc/end_session/",
	OIDCContinue:   "/oidc/continue/",

	Login:          "/accounts/login/",
	Signup:         "/accounts/signup/",
	SignupValidate: "/accounts/signup/validate/:field/",
	SocialLogin:    "/accounts/oidc/:provider/login/",
	GitHubLogin:    "/accounts/github/login/",
	SocialSignup:   "/accounts/3rdparty/signup/",

	Profile:               "/accounts/profile/",
	TimeZone:              "/accounts/profile/time-zone/",
	Sessions:              "/accounts/sessions/",
	Activity:              "/accounts/activity/",
	SessionRevoke:         "/accounts/sessions/:sid/revoke/",
	SessionsRevokeOthers:  "/accounts/sessions/revoke-others/",
	Reauth:                "/accounts/reauthenticate/",
	ReauthPasskey:         "/accounts/reauthenticate/passkey/",
	ReauthUpstream:        "/accounts/reauthenticate/upstream/",
	EmailSendVerification: "/accounts/email/send-verification/",
	PasswordChangeDone:    "/accounts/password_change/done/",
	TwoFactor:             "/accounts/2fa/",
	Apps:                  "/accounts/apps/",
	AppRemove:             "/accounts/apps/:client/remove/",

	PasswordChange:        "/accounts/password_change/",
	Email:                 "/accounts/email/",
	Delete:                "/accounts/delete/",
	TOTPActivate:          "/accounts/2fa/totp/activate/",
	TOTPDeactivate:        "/accounts/2fa/totp/deactivate/",
	RecoveryCodes:         "/accounts/2fa/recovery-codes/",
	RecoveryCodesGenerate: "/accounts/2fa/recovery-codes/generate/",
	Passkeys:              "/accounts/2fa/webauthn/",
	PasskeyRemove:         "/accounts/2fa/webauthn/:pid/remove/",
	Connections:           "/accounts/3rdparty/",
	SocialConnect:         "/accounts/3rdparty/connect/",
	SocialDisconnect:      "/accounts/3rdparty/:iid/disconnect/",

	AdminIndex:             "/admin/",
	AdminEvents:            "/admin/events/",
	AdminUsers:             "/admin/users/",
	AdminUserAdd:           "/admin/users/add/",
	AdminUser:              "/admin/users/:id/",
	AdminSessionRevoke:     "/admin/users/:id/sessions/:sid/revoke/",
	AdminSessionsRevokeAll: "/admin/users/:id/sessions/revoke-all/",
	AdminPasswordReset:     "/admin/users/:id/password-reset/",
	AdminEmailVerified:     "/admin/users/:id/email-verified/",
	AdminSetPassword:       "/admin/users/:id/password/",
	AdminUserDelete:        "/admin/users/:id/delete/",
	AdminMFA:               "/admin/users/:id/2fa/",
	AdminMFAReset:          "/admin/users/:id/2fa/reset/",
	AdminMailRetry:         "/admin/outbox/:id/retry/",
	AdminGroups:            "/admin/groups/",
	AdminGroup:             "/admin/groups/:gid/",
	AdminGroupDelete:       "/admin/groups/:gid/delete/",
	AdminUserGroups:        "/admin/users/:id/groups/",
	AdminAccessRules:       "/admin/access/",
	AdminOIDCClients:       "/admin/oidc-clients/",
	AdminOIDCClientAdd:     "/admin/oidc-clients/add/",
	AdminOIDCClient:        "/admin/oidc-clients/:client/",
	AdminOIDCClientSecret:  "/admin/oidc-clients/:client/secret/",
	AdminOIDCClientDelete:  "/admin/oidc-clients/:client/delete/",
}

// Reach is how people arrive at a route. Pages are reached by following
// links from "/" unless the table below says otherwise; the crawl test
// (handlers/crawl_test.go) follows links from "/" as a guest, a user and a
// superuser and fails on any Link page it can open that no link reaches.
type Reach int

// How a route is reached.
const (
	// Link: a page linked from the app's pages (the default).
	Link Reach = iota
	// Form: the target of a form's POST (a button), never opened by a link.
	Form
	// Mail: opened from a link in an e-mail.
	Mail
	// Redirect: where a flow sends people (after a form, or to ask for a
	// missing step), not a page one opens on one's own.
	Redirect
	// Script: fetched by the pages' script (JSON for passkeys, htmx
	// fragments).
	Script
	// Probe: for machines (health checks, the OpenID provider's endpoints
	// that apps call).
	Probe
)

// reachedBy lists the routes that no link needs to reach, and how people
// get there instead.
var reachedBy = map[Name]Reach{
	Healthz: Probe,
	Readyz:  Probe,

	Logout:            Form,
	PasswordResetDone: Redirect,
	ResetLink:         Mail,
	SetPassword:       Redirect,
	ResetComplete:     Redirect,
	AccountDeleted:    Redirect,
	ConfirmEmail:      Mail,
	SecondStep:        Redirect,
	SecondStepPasskey: Script,
	PasskeyLoginOpts:  Script,
	PasskeyLogin:      Script,

	SignupValidate: Script,

	SessionRevoke:         Form,
	TimeZone:              Form,
	SessionsRevokeOthers:  Form,
	Reauth:                Redirect,
	ReauthPasskey:         Script,
	EmailSendVerification: Form,
	PasswordChangeDone:    Redirect,

	TOTPDeactivate:        Form,
	RecoveryCodesGenerate: Form,
	PasskeyRemove:         Form,

	AdminSessionRevoke:     Form,
	AdminSessionsRevokeAll: Form,
	AdminPasswordReset:     Form,
	AdminEmailVerified:     Form,
	AdminMFAReset:          Form,
	AdminMailRetry:         Form,

	// Other providers: the buttons are POST forms; the provider sends
	// people back to the callbacks, which send new people on to the
	// short sign-up form.
	SocialLogin:      Form,
	GitHubLogin:      Form,
	SocialCallback:   Redirect,
	GitHubCallback:   Redirect,
	SocialSignup:     Redirect,
	SocialConnect:    Form,
	SocialDisconnect: Form,
	ReauthUpstream:   Form,
	AdminGroupDelete: Form,
	AdminUserGroups:  Form,

	// Forward auth: asked by reverse proxies; the denied page is where a
	// refusal sends people.
	ForwardAuth:    Probe,
	ForwardRequest: Probe,
	ForwardDenied:  Redirect,
	// The OpenID provider: apps send people to authorize and end_session
	// and call the rest; our continue page is where authorize sends them.
	LoggedOut:             Redirect,
	OIDCAuthorize:         Redirect,
	OIDCContinue:          Redirect,
	OIDCEndSession:        Redirect,
	OIDCToken:             Probe,
	OIDCUserinfo:          Probe,
	OIDCRevoke:            Probe,
	OIDCIntrospect:        Probe,
	OIDCDiscovery:         Probe,
	OIDCKeys:              Probe,
	AppRemove:             Form,
	AdminOIDCClientSecret: Form,
	AdminOIDCClientDelete: Form,
}

// ReachedBy says how people arrive at route n: Link unless the table says
// otherwise.
func ReachedBy(n Name) Reach {
	Pattern(n) // panics on an unknown name
	return reachedBy[n]
}

// Pattern is the Gin pattern of route n, for registering it.
func Pattern(n Name) string {
	p, ok := patterns[n]
	if !ok {
		panic(fmt.Sprintf("route: no route named %q", n))
	}
	return p
}

// URL is the path of route n with its parameters filled in order (each
// escaped as one path segment), like Django's reverse(). A wrong number of
// parameters is a programming error and panics (every route is exercised
// by the tests).
func URL(n Name, params ...any) string {
	p := Pattern(n)
	if len(params) == 0 && !strings.Contains(p, ":") {
		return p // most links: the pattern is the path (no allocation)
	}
	segs := strings.Split(p, "/")
	i := 0
	for j, s := range segs {
		if strings.HasPrefix(s, ":") {
			if i >= len(params) {
				panic(fmt.Sprintf("route: %q needs more parameters than %d", n, len(params)))
			}
			segs[j] = url.PathEscape(fmt.Sprint(params[i]))
			i++
		}
	}
	if i != len(params) {
		panic(fmt.Sprintf("route: %q takes %d parameters, got %d", n, i, len(params)))
	}
	return strings.Join(segs, "/")
}

// Names lists every route's name, for tests that walk the table.
func Names() []Name {
	out := make([]Name, 0, len(patterns))
	for n := range patterns {
		out = append(out, n)
	}
	return out
}
