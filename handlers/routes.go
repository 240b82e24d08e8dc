package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/assets"
	"gatehouse/internal/route"
)

// Routes returns the whole app as an http.Handler: every route, grouped by
// who may enter, behind the middleware stack and cross-origin protection.
func (h *Handler) Routes() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOriginDenied))
	return cop.Handler(h.router())
}

// router builds the Gin engine with every route and middleware.
func (h *Handler) router() *gin.Engine {
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

	r.Use(h.recoverPanics, h.logRequests, h.securityHeaders)

	// Static and health: no session, no database.
	r.GET(route.Pattern(route.Healthz), h.healthz)
	r.GET(route.Pattern(route.Readyz), h.readyz(&readiness{probe: h.probe}))
	r.GET(assets.Prefix+"*file", gin.WrapH(assets.Handler()))
	r.HEAD(assets.Prefix+"*file", gin.WrapH(assets.Handler()))

	app := r.Group("/", h.noStore, h.databaseDeadline, h.limitBody, h.clientInfo,
		h.installSessions(), h.loadUser)

	// Public.
	app.GET(route.Pattern(route.Home), h.homePage)
	app.POST(route.Pattern(route.Logout), h.logoutSubmit)
	app.GET(route.Pattern(route.PasswordReset), h.passwordResetPage)
	app.POST(route.Pattern(route.PasswordReset), h.passwordResetSubmit)
	app.GET(route.Pattern(route.PasswordResetDone), h.passwordResetDonePage)
	app.GET(route.Pattern(route.ResetLink), h.resetLink)
	app.GET(route.Pattern(route.SetPassword), h.setPasswordPage)
	app.POST(route.Pattern(route.SetPassword), h.setPasswordSubmit)
	app.GET(route.Pattern(route.ResetComplete), h.resetCompletePage)
	app.GET(route.Pattern(route.AccountDeleted), h.accountDeletedPage)
	app.GET(route.Pattern(route.ConfirmEmail), h.confirmEmailPage)
	app.POST(route.Pattern(route.ConfirmEmail), h.confirmEmailSubmit)

	// Guests only: a signed-in user is sent on.
	guests := app.Group("/", h.guestOnly)
	guests.GET(route.Pattern(route.Login), h.loginPage)
	guests.POST(route.Pattern(route.Login), h.loginSubmit)
	guests.GET(route.Pattern(route.Signup), h.signupPage)
	guests.POST(route.Pattern(route.Signup), h.signupSubmit)
	guests.POST(route.Pattern(route.SignupValidate), h.signupValidate)

	// Signed-in users.
	user := app.Group("/", h.requireLogin)
	user.GET(route.Pattern(route.Profile), h.profilePage)
	user.GET(route.Pattern(route.Sessions), h.sessionsPage)
	user.GET(route.Pattern(route.Activity), h.activityPage)
	user.POST(route.Pattern(route.SessionRevoke), h.sessionRevokeSubmit)
	user.POST(route.Pattern(route.SessionsRevokeOthers), h.sessionsRevokeOthersSubmit)
	user.GET(route.Pattern(route.Reauth), h.reauthPage)
	user.POST(route.Pattern(route.Reauth), h.reauthSubmit)
	user.POST(route.Pattern(route.ReauthPasskey), h.limitCeremonyBody, h.reauthPasskeySubmit)
	// Sensitive: a recent password confirmation is needed (sudo.go).
	sudo := user.Group("/", h.requireSudo)
	sudo.GET(route.Pattern(route.PasswordChange), h.passwordChangePage)
	sudo.POST(route.Pattern(route.PasswordChange), h.passwordChangeSubmit)
	sudo.GET(route.Pattern(route.Email), h.emailPage)
	sudo.POST(route.Pattern(route.Email), h.emailSubmit)
	sudo.GET(route.Pattern(route.Delete), h.deleteAccountPage)
	sudo.POST(route.Pattern(route.Delete), h.deleteAccountSubmit)
	user.POST(route.Pattern(route.EmailSendVerification), h.resendVerificationSubmit)
	user.GET(route.Pattern(route.PasswordChangeDone), h.passwordChangeDonePage)

	// Staff only: anonymous visitors go to the login page, other users get
	// 403. Every rule about whom staff may change is the model's
	// (auth/admin.go).
	staff := app.Group("/", h.requireLogin, h.requireStaff, h.requireStaffFactor)
	staff.GET(route.Pattern(route.AdminIndex), h.adminIndex)
	staff.GET(route.Pattern(route.AdminEvents), h.adminEventsPage)
	staff.GET(route.Pattern(route.AdminUsers), h.adminUsersPage)
	staff.GET(route.Pattern(route.AdminUserAdd), h.adminUserAddPage)
	staff.POST(route.Pattern(route.AdminUserAdd), h.adminUserAddSubmit)
	staff.GET(route.Pattern(route.AdminUser), h.adminUserPage)
	staff.POST(route.Pattern(route.AdminUser), h.adminUserSubmit)
	staff.POST(route.Pattern(route.AdminSessionRevoke), h.adminSessionRevoke)
	staff.POST(route.Pattern(route.AdminSessionsRevokeAll), h.adminSessionsRevokeAll)
	staff.POST(route.Pattern(route.AdminPasswordReset), h.adminPasswordResetSubmit)
	staff.POST(route.Pattern(route.AdminEmailVerified), h.adminEmailVerifiedSubmit)
	staff.GET(route.Pattern(route.AdminSetPassword), h.adminSetPasswordPage)
	staff.POST(route.Pattern(route.AdminSetPassword), h.adminSetPasswordSubmit)
	staff.GET(route.Pattern(route.AdminUserDelete), h.adminUserDeletePage)
	staff.POST(route.Pattern(route.AdminUserDelete), h.adminUserDeleteSubmit)
	staff.POST(route.Pattern(route.AdminMailRetry), h.requireSudo, h.adminMailRetrySubmit)

	// Two-factor authentication (mfa.go). The second login step: a
	// pending session, not signed in.
	app.GET(route.Pattern(route.SecondStep), h.secondFactorPage)
	app.POST(route.Pattern(route.SecondStep), h.secondFactorSubmit)
	app.POST(route.Pattern(route.SecondStepPasskey), h.limitCeremonyBody, h.secondFactorPasskeySubmit)
	app.GET(route.Pattern(route.PasskeyLoginOpts), h.passkeyLoginOptions)
	app.POST(route.Pattern(route.PasskeyLogin), h.limitCeremonyBody, h.passkeyLoginSubmit)
	user.GET(route.Pattern(route.TwoFactor), h.mfaOverviewPage)
	// Every page that adds, replaces, shows or removes a way to sign in
	// asks for sudo before the form is shown (django-allauth's
	// reauthentication_required, ASVS 3.7.1): a stolen session whose
	// confirmation has lapsed cannot add the thief's own factor.
	sudo.GET(route.Pattern(route.TOTPActivate), h.totpActivatePage)
	sudo.POST(route.Pattern(route.TOTPActivate), h.totpActivateSubmit)
	sudo.GET(route.Pattern(route.RecoveryCodes), h.recoveryCodesPage)
	sudo.GET(route.Pattern(route.Passkeys), h.passkeysPage)
	sudo.POST(route.Pattern(route.Passkeys), h.limitCeremonyBody, h.passkeyAddSubmit)
	sudo.POST(route.Pattern(route.TOTPDeactivate), h.totpDeactivateSubmit)
	sudo.POST(route.Pattern(route.RecoveryCodesGenerate), h.recoveryCodesGenerateSubmit)
	sudo.POST(route.Pattern(route.PasskeyRemove), h.passkeyRemoveSubmit)
	staff.GET(route.Pattern(route.AdminMFA), h.adminMFAPage)
	staffSudo := staff.Group("/", h.requireSudo)
	staffSudo.POST(route.Pattern(route.AdminMFAReset), h.adminMFAResetSubmit)

	r.NoRoute(h.slashRedirect(r), h.noStore, h.databaseDeadline, h.clientInfo, h.installSessions(), h.loadUser, h.notFound)
	r.NoMethod(h.noStore, h.methodNotAllowed)
	return r
}
