package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/passhash"
	"gatehouse/metrics"
	"gatehouse/models"
)

// genericLoginError is the one message for every failed login, so the form
// does not tell whether a username exists or is active. Usernames are not
// case-sensitive (Alice and alice are one account); passwords are.
const genericLoginError = "Please enter a correct username and password. Note that the password is case-sensitive."

const busyLoginError = "Too many sign-ins are being checked right now. Please try again in a few seconds."

func (h *signInPages) homePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.HomePage(h.page(c, "Home")))
}

// loginPage shows the login form. Most visitors get the same bytes (no
// flash, no ?next=, nobody signed in: guestOnly sent users on), which are
// prerendered.
func (h *signInPages) loginPage(c *gin.Context) {
	next := c.Query("next")
	if !isLocalPath(next) {
		next = ""
	}
	p := h.page(c, "")
	if next == "" && len(p.Flashes) == 0 && p.User == nil && h.servePrerendered(c, h.loginPlain) {
		return
	}
	h.render(c, http.StatusOK, h.loginView(p, next))
}

// loginView is the login page for p (its flashes) and next.
func (h *Handler) loginView(p components.Page, next string) templ.Component {
	p.Title, p.Narrow = "Sign in", true
	return components.LoginPage(p, newForm(nil), next)
}

// loginSubmit signs a user in (auth.Accounts.Login: limits taken before
// the hash, one transaction for the rest) and adopts the new session.
func (h *signInPages) loginSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "username", "remember")
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
			addError(form, "username", requiredError)
		}
		if password == "" {
			addError(form, "password", requiredError)
		}
	}
	show := func(status int) { h.loginForm(c, status, form, next) }
	if form.HasErrors() {
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	device := h.loginDevice(c)
	res, err := h.accounts.Login(c.Request.Context(), auth.LoginInput{
		Username: username, Password: password, IP: c.ClientIP(), SessionID: st.ID,
		Remember: values.Get("remember") == "on", Device: device,
	})
	switch {
	case errors.Is(err, models.ErrInvalidCredentials):
		addError(form, "", genericLoginError)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, auth.ErrEmailUnverified):
		addError(form, "", unverifiedLoginError) // email.go
		show(http.StatusForbidden)
		return
	case errors.Is(err, passhash.ErrBusy):
		h.cfg.Metrics.Login(metrics.LoginBusy)
		c.Header("Retry-After", "5")
		addError(form, "", busyLoginError)
		show(http.StatusServiceUnavailable)
		return
	case err != nil:
		if errors.As(err, new(*auth.ThrottledError)) {
			h.cfg.Metrics.Login(metrics.LoginThrottled)
		}
		h.formFailure(c, "login", err, form, "failed login attempts", nil, show)
		return
	}
	if res.Pending { // a second factor is due (mfa.go)
		session(c).Adopt(res.Session)
		touch(c)
		h.redirect(c, secondStepURL+"?next="+url.QueryEscape(next))
		return
	}
	h.signedIn(c, res)
	h.rememberDevice(c, device)
	h.flash(c, "success", "Welcome back, %s!", res.User.Username)
	h.redirect(c, safeNext(next, h.cfg.LoginRedirectURL))
}

// signedIn makes the session a flow created this request's session.
func (h *Handler) signedIn(c *gin.Context, res *auth.LoginResult) {
	session(c).Adopt(res.Session)
	touch(c)
	c.Set(userKey, res.User)
}

// loginForm answers a failed login: the fragment to htmx, the page otherwise.
func (h *Handler) loginForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.LoginForm(form, next), func() templ.Component {
		p := h.page(c, "Sign in")
		p.Narrow = true
		return components.LoginPage(p, form, next)
	})
}

// logoutSubmit ends the session: its row is deleted and the cookie
// cleared. Someone who was signed in is told so on the next page (a
// short-lived session carries the message); logging out when not signed in
// changes nothing and says nothing.
func (h *signInPages) logoutSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	st, u := session(c), currentUser(c)
	if st.ID != "" || u != nil {
		if err := h.accounts.Logout(c.Request.Context(), st.ID, u); err != nil {
			h.dbError(c, "logout", err)
			return
		}
		endSession(c)
		c.Set(userKey, (*models.User)(nil))
	}
	if u != nil {
		h.flash(c, "info", "You have been signed out.")
	}
	h.redirect(c, h.cfg.LogoutRedirectURL)
}
