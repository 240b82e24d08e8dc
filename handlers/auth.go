package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/passhash"
	"gatehouse/internal/route"
	"gatehouse/metrics"
	"gatehouse/models"
)

// genericLoginError is the one message for every failed login, so the form
// does not tell whether a username exists or is active. Usernames are not
// case-sensitive (Alice and alice are one account); passwords are.
const genericLoginError = "Please enter a correct username and password. Note that the password is case-sensitive."

const busyLoginError = "Too many sign-ins are being checked right now. Please try again in a few seconds."

func (h *signInPages) homePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.HomePage(h.page(c, tr(c, i18n.Message{ID: "title.home", Other: "Home"}))))
}

// loginPage shows the login form. Most visitors get the same bytes (no
// flash, no ?next=, nobody signed in: guestOnly sent users on), which are
// prerendered.
func (h *signInPages) loginPage(c *gin.Context) {
	var next string
	if c.Request.URL.RawQuery != "" { // else Gin would parse "" into an empty map
		next = c.Query("next")
	}
	if !h.nextOK(next) {
		next = ""
	}
	p := h.page(c, "")
	if next == "" && len(p.Flashes) == 0 && p.User == nil && p.LanguageNext == route.URL(route.Login) &&
		h.servePrerendered(c, h.loginPlain.of(c.Request.Context())) {
		return
	}
	h.render(c, http.StatusOK, h.loginView(p, next))
}

// loginView is the login page for p (its flashes) and next.
// The title is translated at render time, from the context's language:
// the prerendered copies have no request.
func (h *Handler) loginView(p components.Page, next string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		p.Title, p.Narrow = ctxT(ctx, loginTitle), true
		return components.LoginPage(p, newForm(nil), next, h.providerButtons()).Render(ctx, w)
	})
}

var loginTitle = i18n.Message{ID: "title.sign_in", Other: "Sign in"}

// loginSubmit signs a user in (auth.Accounts.Login: limits taken before
// the hash, one transaction for the rest) and adopts the new session.
func (h *signInPages) loginSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "username", "remember")
	next := values.Get("next")
	if !h.nextOK(next) {
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
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.welcome_back", Other: "Welcome back, {{.Name}}!"}, map[string]any{"Name": res.User.Username}))
	h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
}

// signedIn makes the session a flow created this request's session.
func (h *Handler) signedIn(c *gin.Context, res *auth.LoginResult) {
	session(c).Adopt(res.Session)
	touch(c)
	setCurrentUser(c, &res.User.SessionUser)
}

// loginForm answers a failed login: the fragment to htmx, the page otherwise.
func (h *Handler) loginForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.LoginForm(form, next), func() templ.Component {
		p := h.page(c, tr(c, i18n.Message{ID: "title.sign_in", Other: "Sign in"}))
		p.Narrow = true
		return components.LoginPage(p, form, next, h.providerButtons())
	})
}

// logoutSubmit ends the session: its row is deleted and the cookie
// cleared. Someone who was signed in is told so on the next page (a
// short-lived session carries the message); logging out when not signed in
// changes nothing and says nothing.
func (h *signInPages) logoutSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	st, u := session(c), currentUser(c)
	if st.ID != "" || u != nil {
		if err := h.accounts.Logout(c.Request.Context(), st.ID, u); err != nil {
			h.dbError(c, "logout", err)
			return
		}
		endSession(c)
		setCurrentUser(c, nil)
	}
	if u != nil {
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.you_have_been_signed_out", Other: "You have been signed out."}))
	}
	// next: "sign in as someone else" (forward auth's denied page) goes
	// on to the login page.
	h.redirect(c, h.safeNext(values.Get("next"), h.cfg.LogoutRedirectURL))
}
