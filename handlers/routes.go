package handlers

import (
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"gatehouse/assets"
	"gatehouse/models"
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
	r.RedirectTrailingSlash = true
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	// The peer address is the client unless proxies are configured.
	_ = r.SetTrustedProxies(h.cfg.TrustedProxies)

	r.Use(h.recoverPanics, h.logRequests, h.securityHeaders)

	// Static and health: no session, no database.
	r.GET("/healthz", h.healthz)
	r.GET(assets.Prefix+"*file", gin.WrapH(assets.Handler()))
	r.HEAD(assets.Prefix+"*file", gin.WrapH(assets.Handler()))

	app := r.Group("/", h.noStore, h.limitBody, h.clientInfo,
		sessions.Sessions(models.SessionCookieName, h.store), h.loadUser)

	// Public.
	app.GET("/", h.homePage)
	app.POST("/accounts/logout/", h.logoutSubmit)

	// Guests only: a signed-in user is sent on.
	guests := app.Group("/", h.guestOnly)
	guests.GET("/accounts/login/", h.loginPage)
	guests.POST("/accounts/login/", h.loginSubmit)

	// Signed-in users.
	user := app.Group("/", h.requireLogin)
	user.GET("/accounts/profile/", h.profilePage)

	r.NoRoute(h.noStore, h.clientInfo, sessions.Sessions(models.SessionCookieName, h.store), h.loadUser, h.notFound)
	r.NoMethod(h.noStore, h.methodNotAllowed)
	return r
}
