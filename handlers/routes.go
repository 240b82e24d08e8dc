package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/assets"
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
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz(&readiness{probe: h.probe}))
	r.GET(assets.Prefix+"*file", gin.WrapH(assets.Handler()))
	r.HEAD(assets.Prefix+"*file", gin.WrapH(assets.Handler()))

	app := r.Group("/", h.noStore, h.databaseDeadline, h.limitBody, h.clientInfo,
		h.installSessions(), h.loadUser)

	// Public.
	app.GET("/", h.homePage)
	app.POST("/accounts/logout/", h.logoutSubmit)
	app.GET("/accounts/password_reset/", h.passwordResetPage)
	app.POST("/accounts/password_reset/", h.passwordResetSubmit)
	app.GET("/accounts/password_reset/done/", h.passwordResetDonePage)
	app.GET("/accounts/reset/:token/", h.resetLink)
	app.GET("/accounts/reset/set-password/", h.setPasswordPage)
	app.POST("/accounts/reset/set-password/", h.setPasswordSubmit)
	app.GET("/accounts/reset/done/", h.resetCompletePage)
	app.GET("/accounts/deleted/", h.accountDeletedPage)
	app.GET("/accounts/confirm-email/:token/", h.confirmEmailPage)
	app.POST("/accounts/confirm-email/:token/", h.confirmEmailSubmit)

	// Guests only: a signed-in user is sent on.
	guests := app.Group("/", h.guestOnly)
	guests.GET("/accounts/login/", h.loginPage)
	guests.POST("/accounts/login/", h.loginSubmit)
	guests.GET("/accounts/signup/", h.signupPage)
	guests.POST("/accounts/signup/", h.signupSubmit)
	guests.POST("/accounts/signup/validate/:field/", h.signupValidate)

	// Signed-in users.
	user := app.Group("/", h.requireLogin)
	user.GET("/accounts/profile/", h.profilePage)
	user.GET("/accounts/sessions/", h.sessionsPage)
	user.GET("/accounts/activity/", h.activityPage)
	user.POST("/accounts/sessions/:sid/revoke/", h.sessionRevokeSubmit)
	user.POST("/accounts/sessions/revoke-others/", h.sessionsRevokeOthersSubmit)
	user.GET("/accounts/reauthenticate/", h.reauthPage)
	user.POST("/accounts/reauthenticate/", h.reauthSubmit)
	user.POST("/accounts/reauthenticate/passkey/", h.limitCeremonyBody, h.reauthPasskeySubmit)
	// Sensitive: a recent password confirmation is needed (sudo.go).
	sudo := user.Group("/", h.requireSudo)
	sudo.GET("/accounts/password_change/", h.passwordChangePage)
	sudo.POST("/accounts/password_change/", h.passwordChangeSubmit)
	sudo.GET("/accounts/email/", h.emailPage)
	sudo.POST("/accounts/email/", h.emailSubmit)
	sudo.GET("/accounts/delete/", h.deleteAccountPage)
	sudo.POST("/accounts/delete/", h.deleteAccountSubmit)
	user.POST("/accounts/email/send-verification/", h.resendVerificationSubmit)
	user.GET("/accounts/password_change/done/", h.passwordChangeDonePage)

	// Staff only: anonymous visitors go to the login page, other users get
	// 403. Every rule about whom staff may change is the model's
	// (models/admin.go).
	staff := app.Group("/admin", h.requireLogin, h.requireStaff, h.requireStaffFactor)
	staff.GET("/", h.adminIndex)
	staff.GET("/events/", h.adminEventsPage)
	staff.GET("/users/", h.adminUsersPage)
	staff.GET("/users/add/", h.adminUserAddPage)
	staff.POST("/users/add/", h.adminUserAddSubmit)
	staff.GET("/users/:id/", h.adminUserPage)
	staff.POST("/users/:id/", h.adminUserSubmit)
	staff.POST("/users/:id/sessions/:sid/revoke/", h.adminSessionRevoke)
	staff.POST("/users/:id/sessions/revoke-all/", h.adminSessionsRevokeAll)
	staff.POST("/users/:id/password-reset/", h.adminPasswordResetSubmit)
	staff.POST("/users/:id/email-verified/", h.adminEmailVerifiedSubmit)
	staff.GET("/users/:id/password/", h.adminSetPasswordPage)
	staff.POST("/users/:id/password/", h.adminSetPasswordSubmit)
	staff.GET("/users/:id/delete/", h.adminUserDeletePage)
	staff.POST("/users/:id/delete/", h.adminUserDeleteSubmit)
	staff.POST("/outbox/:id/retry/", h.requireSudo, h.adminMailRetrySubmit)

	// Two-factor authentication (mfa.go). The second login step: a
	// pending session, not signed in.
	app.GET(secondStepURL, h.secondFactorPage)
	app.POST(secondStepURL, h.secondFactorSubmit)
	app.POST("/accounts/2fa/authenticate/passkey/", h.limitCeremonyBody, h.secondFactorPasskeySubmit)
	app.GET("/accounts/2fa/webauthn/login/options/", h.passkeyLoginOptions)
	app.POST("/accounts/2fa/webauthn/login/", h.limitCeremonyBody, h.passkeyLoginSubmit)
	user.GET("/accounts/2fa/", h.mfaOverviewPage)
	// Every page that adds, replaces, shows or removes a way to sign in
	// asks for sudo before the form is shown (django-allauth's
	// reauthentication_required, ASVS 3.7.1): a stolen session whose
	// confirmation has lapsed cannot add the thief's own factor.
	sudo.GET("/accounts/2fa/totp/activate/", h.totpActivatePage)
	sudo.POST("/accounts/2fa/totp/activate/", h.totpActivateSubmit)
	sudo.GET("/accounts/2fa/recovery-codes/", h.recoveryCodesPage)
	sudo.GET("/accounts/2fa/webauthn/", h.passkeysPage)
	sudo.POST("/accounts/2fa/webauthn/", h.limitCeremonyBody, h.passkeyAddSubmit)
	sudo.POST("/accounts/2fa/totp/deactivate/", h.totpDeactivateSubmit)
	sudo.POST("/accounts/2fa/recovery-codes/generate/", h.recoveryCodesGenerateSubmit)
	sudo.POST("/accounts/2fa/webauthn/:pid/remove/", h.passkeyRemoveSubmit)
	staff.GET("/users/:id/2fa/", h.adminMFAPage)
	staffSudo := staff.Group("/", h.requireSudo)
	staffSudo.POST("/users/:id/2fa/reset/", h.adminMFAResetSubmit)

	r.NoRoute(h.slashRedirect(r), h.noStore, h.databaseDeadline, h.clientInfo, h.installSessions(), h.loadUser, h.notFound)
	r.NoMethod(h.noStore, h.methodNotAllowed)
	return r
}
