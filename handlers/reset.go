package handlers

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/route"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

// Password reset, Django's flow with its leaks closed:
//
//   - The request form answers the same (page, status, timing) whether or
//     not the address has an account: the handler only checks the syntax,
//     and one transaction (auth.Accounts.RequestPasswordReset) counts the
//     request against its limits (keyed by what was typed, so the same for
//     every address) and queues a job in the outbox. The look-up, the token
//     and the mail happen in the outbox worker, so neither an account
//     look-up nor an SMTP round trip is on the request path, and a crash
//     loses no request. An address over its limit gets the same answer and
//     no job.
//   - The link's token is checked, its hash put in the session — which is
//     rotated to a new token at that moment, so a session planted by an
//     attacker does not receive the capability — and the browser sent on to
//     /accounts/reset/set-password/ at once, so the token is neither left in
//     the address bar nor sent as a Referer. Logs name the route pattern,
//     never the path. A visitor who is not signed in gets a short-lived
//     session for this, and only this.
//   - A token works once: the final POST uses it up with one conditional
//     UPDATE, in the transaction that sets the password, so of parallel uses
//     exactly one wins.

// Paths of the reset flow.
var (
	passwordResetDoneURL = route.URL(route.PasswordResetDone)
	setPasswordURL       = route.URL(route.SetPassword)
	resetCompleteURL     = route.URL(route.ResetComplete)
)

func (h *signInPages) passwordResetPage(c *gin.Context) {
	p := h.page(c, tr(c, i18n.Message{ID: "title.password_reset", Other: "Password reset"}))
	p.Narrow = true
	h.render(c, http.StatusOK, components.PasswordResetPage(p, newForm(nil), h.checkedNext(c.Query("next"))))
}

func (h *signInPages) passwordResetSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "email")
	next := h.checkedNext(values.Get("next"))
	email := validate.NormalizeEmail(values.Get("email"))
	switch {
	case formMsg != "":
		addError(form, "", formMsg)
	case email == "":
		addError(form, "email", requiredError)
	default:
		if msg := validate.ValidateEmail(email); msg != "" {
			addError(form, "email", msg)
		}
	}
	show := func(status int) { h.passwordResetForm(c, status, form, next) }
	if form.HasErrors() {
		show(http.StatusUnprocessableEntity)
		return
	}
	if err := h.accounts.RequestPasswordReset(c.Request.Context(), email, c.ClientIP(), next); err != nil {
		h.formFailure(c, "request password reset", err, form, "password reset requests", nil, show)
		return
	}
	h.redirect(c, passwordResetDoneURL)
}

func (h *signInPages) passwordResetForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.PasswordResetForm(form, next), func() templ.Component {
		p := h.page(c, tr(c, i18n.Message{ID: "title.password_reset", Other: "Password reset"}))
		p.Narrow = true
		return components.PasswordResetPage(p, form, next)
	})
}

func (h *signInPages) passwordResetDonePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.PasswordResetDonePage(h.page(c, tr(c, i18n.Message{ID: "title.password_reset_sent", Other: "Password reset sent"}))))
}

// resetLink checks the e-mailed token, keeps its hash in a freshly rotated
// session and sends the browser on to the new-password form, so the token
// leaves the address bar at once.
func (h *signInPages) resetLink(c *gin.Context) {
	hash, err := models.TokenHash(c.Param("token"))
	if err != nil {
		h.invalidResetLink(c)
		return
	}
	if _, err := h.tokens.Check(c.Request.Context(), models.PurposePasswordReset, hash); err != nil {
		if errors.Is(err, models.ErrInvalidToken) {
			h.invalidResetLink(c)
			return
		}
		h.dbError(c, "check reset token", err)
		return
	}
	st := session(c)
	st.ResetHash = hash
	st.Rotate() // a capability was added: a planted token must not get it
	touch(c)
	h.redirect(c, withNext(setPasswordURL, h.checkedNext(c.Query("next"))))
}

// invalidResetLink answers a link that is malformed, unknown, expired or
// used: 400 with a page offering a new link. The statuses are not told
// apart, so the page does not tell which tokens once existed.
func (h *signInPages) invalidResetLink(c *gin.Context) {
	if st := session(c); st.ResetHash != "" {
		st.ResetHash = ""
		touch(c)
	}
	if isHTMX(c) && c.Request.Method == http.MethodPost {
		// A form swap cannot show a whole page: send the browser to the
		// form's address, which (the hash gone) answers with this page.
		h.redirect(c, setPasswordURL)
		return
	}
	h.render(c, http.StatusBadRequest, components.InvalidResetLinkPage(h.page(c, tr(c, i18n.Message{ID: "title.password_reset_unsuccessful", Other: "Password reset unsuccessful"}))))
}

// resetUser returns the user of the reset link kept in the session; on
// failure it has answered (the invalid-link page or a database error).
func (h *signInPages) resetUser(c *gin.Context) (hash string, user *models.User, ok bool) {
	hash = session(c).ResetHash
	tok, err := h.tokens.Check(c.Request.Context(), models.PurposePasswordReset, hash)
	if err == nil {
		user, err = h.users.ByID(c.Request.Context(), tok.UserID)
	}
	switch {
	case errors.Is(err, models.ErrInvalidToken), errors.Is(err, models.ErrNotFound):
		h.invalidResetLink(c)
		return "", nil, false
	case err != nil:
		h.dbError(c, "check reset token", err)
		return "", nil, false
	}
	return hash, user, true
}

func (h *signInPages) setPasswordPage(c *gin.Context) {
	if _, _, ok := h.resetUser(c); !ok {
		return
	}
	p := h.page(c, tr(c, i18n.Message{ID: "title.enter_new_password", Other: "Enter new password"}))
	p.Narrow = true
	h.render(c, http.StatusOK, components.SetPasswordPage(p, newForm(nil), h.checkedNext(c.Query("next"))))
}

// setPasswordSubmit completes the reset (auth.Accounts.ResetPassword).
// Every session of the user ends, this browser's too: Django does not log
// in after a reset either.
func (h *signInPages) setPasswordSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	hash, _, ok := h.resetUser(c)
	if !ok {
		return
	}
	form := newForm(values)
	next := h.checkedNext(values.Get("next"))
	show := func(status int) { h.setPasswordForm(c, status, form, next) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	_, err = h.accounts.ResetPassword(c.Request.Context(), hash, values.Get("new_password1"), values.Get("new_password2"), st.ID)
	if errors.Is(err, models.ErrInvalidToken) {
		h.invalidResetLink(c)
		return
	}
	if err != nil {
		h.formFailure(c, "reset password", err, form, "attempts", newPasswordFields, show)
		return
	}
	st.End()
	touch(c)
	setCurrentUser(c, nil)
	h.redirect(c, withNext(resetCompleteURL, next))
}

func (h *signInPages) setPasswordForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.SetPasswordForm(form, next), func() templ.Component {
		p := h.page(c, tr(c, i18n.Message{ID: "title.enter_new_password", Other: "Enter new password"}))
		p.Narrow = true
		return components.SetPasswordPage(p, form, next)
	})
}

func (h *signInPages) resetCompletePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.ResetCompletePage(h.page(c, tr(c, i18n.Message{ID: "title.password_reset_complete", Other: "Password reset complete"})), h.checkedNext(c.Query("next"))))
}
