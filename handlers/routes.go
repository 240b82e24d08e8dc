package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/assets"
	"gatehouse/internal/route"
)

// Routes returns the whole app as an http.Handler: every route, grouped by
// who may enter, behind the middleware stack and cross-origin protection.
func (a *App) Routes() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(a.h.crossOriginDenied))
	// The OpenID provider's back-channel endpoints are called cross-origin
	// by design (a single-page app's token request carries its Origin);
	// each authenticates its client itself. Exempt from the cross-origin
	// form check, never from client authentication.
	for _, n := range []route.Name{route.OIDCToken, route.OIDCRevoke, route.OIDCIntrospect, route.OIDCUserinfo} {
		cop.AddInsecureBypassPattern("POST " + route.URL(n))
	}
	r := a.router()
	return cop.Handler(a.plainLane(r, r))
}

// router builds the Gin engine with every route and middleware.
func (a *App) router() *gin.Engine {
	h := a.h
	mw, signIn, account, admin, mfa, social, oidcp := a.areas.mw, a.areas.signIn, a.areas.account, a.areas.admin, a.areas.mfa, a.areas.social, a.areas.oidc
	if h.cfg.Debug {
		gin.SetMode(gin.DebugMode)
	} else {
		gin.SetMode(gin.ReleaseMode)
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Gin's own redirect trusts X-Forwarded-Prefix and skips our
	// middleware; slashRedirect (slash.go) does it in NoRoute instead.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	// The peer address is the client unless proxies are configured.
	_ = r.SetTrustedProxies(h.cfg.TrustedProxies)

	r.Use(mw.recoverPanics, mw.logRequests, mw.securityHeaders)
	requestContext := mw.requestContextFor(r)

	// Static and health: no session, no database.
	r.GET(route.Pattern(route.Healthz), mw.healthz)
	r.GET(route.Pattern(route.Readyz), mw.readyz(&readiness{probe: h.probe}))
	r.GET(assets.Prefix+"*file", gin.WrapH(assets.Handler()))
	r.HEAD(assets.Prefix+"*file", gin.WrapH(assets.Handler()))

	// The OpenID provider: discovery and keys from memory; op's own
	// endpoints with the database but without sessions (bearer tokens and
	// client credentials, never cookies).
	r.GET(route.Pattern(route.OIDCDiscovery), oidcp.discovery)
	r.GET(route.Pattern(route.OIDCKeys), oidcp.jwks)
	opAPI := r.Group("/", mw.noStore, requestContext, mw.limitBody)
	opAPI.GET(route.Pattern(route.OIDCAuthorize), oidcp.opEndpoint)
	opAPI.POST(route.Pattern(route.OIDCAuthorize), oidcp.opEndpoint)
	for _, n := range []route.Name{route.OIDCToken, route.OIDCRevoke, route.OIDCIntrospect} {
		opAPI.POST(route.Pattern(n), oidcp.opEndpoint)
		opAPI.OPTIONS(route.Pattern(n), oidcp.opEndpoint)
	}
	opAPI.GET(route.Pattern(route.OIDCUserinfo), oidcp.userinfo)
	opAPI.POST(route.Pattern(route.OIDCUserinfo), oidcp.userinfo)
	opAPI.OPTIONS(route.Pattern(route.OIDCUserinfo), oidcp.userinfo)

	app := r.Group("/", mw.noStore, requestContext, mw.limitBody,
		h.installSessions(), mw.loadUser, mw.localize)

	// Public.
	app.GET(route.Pattern(route.Home), signIn.homePage)
	app.POST(route.Pattern(route.Logout), signIn.logoutSubmit)
	app.POST(route.Pattern(route.SetLanguage), signIn.setLanguageSubmit)
	app.GET(route.Pattern(route.PasswordReset), signIn.passwordResetPage)
	app.POST(route.Pattern(route.PasswordReset), signIn.passwordResetSubmit)
	app.GET(route.Pattern(route.PasswordResetDone), signIn.passwordResetDonePage)
	app.GET(route.Pattern(route.ResetLink), signIn.resetLink)
	app.GET(route.Pattern(route.SetPassword), signIn.setPasswordPage)
	app.POST(route.Pattern(route.SetPassword), signIn.setPasswordSubmit)
	app.GET(route.Pattern(route.ResetComplete), signIn.resetCompletePage)
	app.GET(route.Pattern(route.AccountDeleted), account.accountDeletedPage)
	app.GET(route.Pattern(route.ConfirmEmail), account.confirmEmailPage)
	app.POST(route.Pattern(route.ConfirmEmail), account.confirmEmailSubmit)
	app.GET(route.Pattern(route.OIDCContinue), oidcp.continueFlow)
	app.POST(route.Pattern(route.OIDCContinue), oidcp.continueFlow)
	app.GET(route.Pattern(route.OIDCEndSession), oidcp.endSession)
	app.POST(route.Pattern(route.OIDCEndSession), oidcp.endSession)
	app.GET(route.Pattern(route.LoggedOut), oidcp.loggedOutPage)

	// Forward auth (forward.go): asked by reverse proxies, answered from
	// the session and the access rules, never writing.
	app.GET(route.Pattern(route.ForwardAuth), a.areas.forward.forward)
	app.GET(route.Pattern(route.ForwardRequest), a.areas.forward.request)
	app.GET(route.Pattern(route.ForwardDenied), a.areas.forward.deniedPage)

	// Guests only: a signed-in user is sent on.
	guests := app.Group("/", mw.guestOnly)
	a.loginChain = guests.Handlers
	guests.GET(route.Pattern(route.Login), signIn.loginPage)
	guests.POST(route.Pattern(route.Login), signIn.loginSubmit)
	guests.GET(route.Pattern(route.Signup), signIn.signupPage)
	guests.POST(route.Pattern(route.Signup), signIn.signupSubmit)
	guests.POST(route.Pattern(route.SignupValidate), signIn.signupValidate)

	// Signed-in users.
	user := app.Group("/", mw.requireLogin)
	user.GET(route.Pattern(route.Profile), account.profilePage)
	user.POST(route.Pattern(route.TimeZone), account.timeZoneSubmit)
	user.GET(route.Pattern(route.Sessions), account.sessionsPage)
	user.GET(route.Pattern(route.Activity), account.activityPage)
	user.POST(route.Pattern(route.SessionRevoke), account.sessionRevokeSubmit)
	user.POST(route.Pattern(route.SessionsRevokeOthers), account.sessionsRevokeOthersSubmit)
	user.GET(route.Pattern(route.Reauth), account.reauthPage)
	user.POST(route.Pattern(route.Reauth), account.reauthSubmit)
	user.POST(route.Pattern(route.ReauthPasskey), mw.limitCeremonyBody, account.reauthPasskeySubmit)
	// Sensitive: a recent password confirmation is needed (sudo.go).
	sudo := user.Group("/", mw.requireSudo)
	sudo.GET(route.Pattern(route.PasswordChange), account.passwordChangePage)
	sudo.POST(route.Pattern(route.PasswordChange), account.passwordChangeSubmit)
	sudo.GET(route.Pattern(route.Email), account.emailPage)
	sudo.POST(route.Pattern(route.Email), account.emailSubmit)
	sudo.GET(route.Pattern(route.Delete), account.deleteAccountPage)
	sudo.POST(route.Pattern(route.Delete), account.deleteAccountSubmit)
	user.POST(route.Pattern(route.EmailSendVerification), account.resendVerificationSubmit)
	user.GET(route.Pattern(route.PasswordChangeDone), account.passwordChangeDonePage)
	user.GET(route.Pattern(route.Apps), oidcp.appsPage)
	user.POST(route.Pattern(route.AppRemove), oidcp.appRemoveSubmit)

	// Staff only: anonymous visitors go to the login page, other users get
	// 403. Every rule about whom staff may change is the model's
	// (auth/admin.go).
	staff := app.Group("/", mw.requireLogin, admin.requireStaff, mfa.requireStaffFactor)
	staff.GET(route.Pattern(route.AdminIndex), admin.adminIndex)
	staff.GET(route.Pattern(route.AdminEvents), admin.adminEventsPage)
	staff.GET(route.Pattern(route.AdminUsers), admin.adminUsersPage)
	staff.GET(route.Pattern(route.AdminUserAdd), admin.adminUserAddPage)
	staff.POST(route.Pattern(route.AdminUserAdd), admin.adminUserAddSubmit)
	staff.GET(route.Pattern(route.AdminUser), admin.adminUserPage)
	staff.POST(route.Pattern(route.AdminUser), admin.adminUserSubmit)
	staff.POST(route.Pattern(route.AdminSessionRevoke), admin.adminSessionRevoke)
	staff.POST(route.Pattern(route.AdminSessionsRevokeAll), admin.adminSessionsRevokeAll)
	staff.POST(route.Pattern(route.AdminPasswordReset), admin.adminPasswordResetSubmit)
	staff.POST(route.Pattern(route.AdminEmailVerified), admin.adminEmailVerifiedSubmit)
	staff.GET(route.Pattern(route.AdminSetPassword), admin.adminSetPasswordPage)
	staff.POST(route.Pattern(route.AdminSetPassword), admin.adminSetPasswordSubmit)
	staff.GET(route.Pattern(route.AdminUserDelete), admin.adminUserDeletePage)
	staff.POST(route.Pattern(route.AdminUserDelete), admin.adminUserDeleteSubmit)
	staff.POST(route.Pattern(route.AdminMailRetry), mw.requireSudo, admin.adminMailRetrySubmit)
	// Groups and access rules (groups.go): changes are for superusers,
	// with sudo, as privilege changes are.
	groups := a.areas.groups
	staff.GET(route.Pattern(route.AdminGroups), groups.adminGroupsPage)
	staff.POST(route.Pattern(route.AdminGroups), mw.requireSudo, groups.adminGroupsSubmit)
	staff.GET(route.Pattern(route.AdminGroup), groups.adminGroupPage)
	staff.POST(route.Pattern(route.AdminGroup), mw.requireSudo, groups.adminGroupSubmit)
	staff.POST(route.Pattern(route.AdminGroupDelete), mw.requireSudo, groups.adminGroupDeleteSubmit)
	staff.POST(route.Pattern(route.AdminUserGroups), mw.requireSudo, groups.adminUserGroupsSubmit)
	staff.GET(route.Pattern(route.AdminAccessRules), groups.adminAccessPage)
	staff.GET(route.Pattern(route.AdminOIDCClients), oidcp.adminClientsPage)
	staff.GET(route.Pattern(route.AdminOIDCClientAdd), oidcp.adminClientAddPage)
	staff.POST(route.Pattern(route.AdminOIDCClientAdd), mw.requireSudo, oidcp.adminClientAddSubmit)
	staff.GET(route.Pattern(route.AdminOIDCClient), oidcp.adminClientPage)
	staff.POST(route.Pattern(route.AdminOIDCClient), mw.requireSudo, oidcp.adminClientSubmit)
	staff.POST(route.Pattern(route.AdminOIDCClientSecret), mw.requireSudo, oidcp.adminClientSecretSubmit)
	staff.POST(route.Pattern(route.AdminOIDCClientDelete), mw.requireSudo, oidcp.adminClientDeleteSubmit)

	// Two-factor authentication (mfa.go). The second login step: a
	// pending session, not signed in.
	app.GET(route.Pattern(route.SecondStep), mfa.secondFactorPage)
	app.POST(route.Pattern(route.SecondStep), mfa.secondFactorSubmit)
	app.POST(route.Pattern(route.SecondStepPasskey), mw.limitCeremonyBody, mfa.secondFactorPasskeySubmit)
	app.GET(route.Pattern(route.PasskeyLoginOpts), mfa.passkeyLoginOptions)
	app.POST(route.Pattern(route.PasskeyLogin), mw.limitCeremonyBody, mfa.passkeyLoginSubmit)
	user.GET(route.Pattern(route.TwoFactor), mfa.mfaOverviewPage)
	// Every page that adds, replaces, shows or removes a way to sign in
	// asks for sudo before the form is shown (django-allauth's
	// reauthentication_required, ASVS 3.7.1): a stolen session whose
	// confirmation has lapsed cannot add the thief's own factor.
	sudo.GET(route.Pattern(route.TOTPActivate), mfa.totpActivatePage)
	sudo.POST(route.Pattern(route.TOTPActivate), mfa.totpActivateSubmit)
	sudo.GET(route.Pattern(route.RecoveryCodes), mfa.recoveryCodesPage)
	sudo.GET(route.Pattern(route.Passkeys), mfa.passkeysPage)
	sudo.POST(route.Pattern(route.Passkeys), mw.limitCeremonyBody, mfa.passkeyAddSubmit)
	sudo.POST(route.Pattern(route.TOTPDeactivate), mfa.totpDeactivateSubmit)
	sudo.POST(route.Pattern(route.RecoveryCodesGenerate), mfa.recoveryCodesGenerateSubmit)
	sudo.POST(route.Pattern(route.PasskeyRemove), mfa.passkeyRemoveSubmit)
	staff.GET(route.Pattern(route.AdminMFA), mfa.adminMFAPage)
	staffSudo := staff.Group("/", mw.requireSudo)
	staffSudo.POST(route.Pattern(route.AdminMFAReset), mfa.adminMFAResetSubmit)

	// Sign-in through other providers (social.go). The callback is
	// public: it signs in (login) or connects (the account that started
	// it, checked in auth).
	guests.GET(route.Pattern(route.SocialLogin), social.socialLoginPage)
	guests.POST(route.Pattern(route.SocialLogin), social.socialLoginSubmit)
	guests.GET(route.Pattern(route.GitHubLogin), social.socialLoginPage)
	guests.POST(route.Pattern(route.GitHubLogin), social.socialLoginSubmit)
	app.GET(route.Pattern(route.SocialCallback), social.socialCallback)
	app.GET(route.Pattern(route.GitHubCallback), social.socialCallback)
	guests.GET(route.Pattern(route.SocialSignup), social.socialSignupPage)
	guests.POST(route.Pattern(route.SocialSignup), social.socialSignupSubmit)
	user.POST(route.Pattern(route.ReauthUpstream), social.reauthSubmit)
	sudo.GET(route.Pattern(route.Connections), social.connectionsPage)
	sudo.POST(route.Pattern(route.SocialConnect), social.connectSubmit)
	sudo.POST(route.Pattern(route.SocialDisconnect), social.disconnectSubmit)

	r.NoRoute(mw.slashRedirect(r), mw.noStore, requestContext, h.installSessions(), mw.loadUser, mw.localize, h.notFound)
	r.NoMethod(mw.noStore, mw.localize, h.methodNotAllowed)
	return r
}
