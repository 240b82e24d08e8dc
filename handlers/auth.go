package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/metrics"
	"gatehouse/models"
)

// genericLoginError is the one message for every failed login, so the form
// does not tell whether a username exists or is active.
const genericLoginError = "Please enter a correct username and password. Note that both fields may be case-sensitive."

const busyLoginError = "Too many sign-ins are being checked right now. Please try again in a few seconds."

func (h *Handler) homePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.HomePage(h.page(c, "Home")))
}

func (h *Handler) loginPage(c *gin.Context) {
	next := c.Query("next")
	if !isLocalPath(next) {
		next = ""
	}
	p := h.page(c, "Log in")
	p.Narrow = true
	h.render(c, http.StatusOK, components.LoginPage(p, newForm(nil), next))
}

func (h *Handler) loginSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "username")
	next := values.Get("next")
	if !isLocalPath(next) {
		next = ""
	}
	username, password := values.Get("username"), values.Get("password")
	switch {
	case formMsg != "":
		addError(form, "", formMsg)
	case username == "" || password == "":
		if username == "" {
			addError(form, "username", "This field is required.")
		}
		if password == "" {
			addError(form, "password", "This field is required.")
		}
	}
	if form.HasErrors() {
		h.loginForm(c, http.StatusUnprocessableEntity, form, next)
		return
	}
	// Throttle before hashing: a blocked guess costs a read, not a hash. The
	// same check runs for every username, known or not, so it reveals
	// nothing about who exists.
	userIPRule, ipRule := h.loginRules(c, username)
	wait, _, err := h.throttleCheck(c, userIPRule, ipRule)
	if err != nil {
		h.dbError(c, "check login throttle", err)
		return
	}
	if wait > 0 {
		h.cfg.Metrics.Login(metrics.LoginThrottled)
		status, msg := tooManyRequests(c, wait, "failed login attempts")
		addError(form, "", msg)
		h.loginForm(c, status, form, next)
		return
	}
	user, err := h.users.Authenticate(c.Request.Context(), username, password)
	switch {
	case errors.Is(err, models.ErrInvalidCredentials):
		h.audit(c, models.AuthEvent{Kind: models.EventLoginFailed, Username: username})
		// The event is recorded when a block starts, not on every refused
		// attempt, so a flood of blocked requests cannot fill the log.
		// A failure to count is logged by throttleCount; the attempt
		// itself has been answered.
		if blocked, scope, _ := h.throttleCount(c, userIPRule, ipRule); blocked > 0 {
			h.audit(c, models.AuthEvent{Kind: models.EventLoginThrottled, Username: username,
				Detail: "scope=" + scope + " blocked_for=" + blocked.String()})
		}
		addError(form, "", genericLoginError)
		h.loginForm(c, http.StatusUnprocessableEntity, form, next)
		return
	case errors.Is(err, models.ErrBusy):
		h.cfg.Metrics.Login(metrics.LoginBusy)
		c.Header("Retry-After", "5")
		addError(form, "", busyLoginError)
		h.loginForm(c, http.StatusServiceUnavailable, form, next)
		return
	case err != nil:
		h.dbError(c, "authenticate", err)
		return
	}
	if err := h.login(c, user); err != nil {
		h.dbError(c, "login", err)
		return
	}
	// Only the (username, address) counter is reset: resetting the
	// per-address one would let an attacker clear it by logging in to an
	// account of their own between guesses.
	h.throttleReset(c, userIPRule)
	h.audit(c, models.AuthEvent{Kind: models.EventLoginSucceeded, UserID: &user.ID, Username: user.Username})
	h.flash(c, "success", "Welcome back, %s!", user.Username)
	h.redirect(c, safeNext(next, h.cfg.LoginRedirectURL))
}

// loginForm answers a failed login: the fragment to htmx, the page otherwise.
func (h *Handler) loginForm(c *gin.Context, status int, form components.Form, next string) {
	if isHTMX(c) {
		h.render(c, status, components.LoginForm(form, next))
		return
	}
	p := h.page(c, "Log in")
	p.Narrow = true
	h.render(c, status, components.LoginPage(p, form, next))
}

// login signs user in on this request's session, as Django's login() does:
// the session token is rotated first, so a token planted before login
// (session fixation) is worthless afterwards; last_login is recorded.
func (h *Handler) login(c *gin.Context, user *models.User) error {
	if err := h.rotateSession(c); err != nil {
		return err
	}
	sessions.Default(c).Set(models.UserIDKey, user.ID)
	if err := h.users.RecordLogin(c.Request.Context(), user); err != nil {
		return err
	}
	c.Set(userKey, user)
	return nil
}

// rotateSession gives the session a new token on its next save and deletes
// the old row.
func (h *Handler) rotateSession(c *gin.Context) error {
	sess := sessions.Default(c)
	gs := gorillaSession(sess)
	if gs == nil {
		return models.ErrUnavailable
	}
	if err := h.store.Rotate(c.Request.Context(), gs); err != nil {
		return err
	}
	// Mark the session written so the middleware's save issues the cookie.
	sess.Set("_rotated", true)
	sess.Delete("_rotated")
	return nil
}

// logoutSubmit ends the session (row and cookie) and starts a fresh,
// anonymous one only to carry the goodbye message. Logging out when signed
// out is harmless.
func (h *Handler) logoutSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	if err := h.logout(c); err != nil {
		h.dbError(c, "logout", err)
		return
	}
	h.flash(c, "info", "You have been logged out.")
	h.redirect(c, h.cfg.LogoutRedirectURL)
}

func (h *Handler) logout(c *gin.Context) error {
	if u := currentUser(c); u != nil {
		h.audit(c, models.AuthEvent{Kind: models.EventLogout, UserID: &u.ID, Username: u.Username})
	}
	if err := h.rotateSession(c); err != nil {
		return err
	}
	sessions.Default(c).Clear()
	c.Set(userKey, (*models.User)(nil))
	return nil
}

func (h *Handler) profilePage(c *gin.Context) {
	u := currentUser(c)
	h.render(c, http.StatusOK, components.ProfilePage(h.page(c, "Your profile"), components.Profile{
		Username: u.Username, Email: u.Email, DateJoined: u.DateJoined, LastLogin: u.LastLogin,
	}))
}
