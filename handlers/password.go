package handlers

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/route"
)

// Messages of the password forms (Django's wording where it has one).
// passwordChangedURL is where a password change ends, with a flash, like
// every other flow.
var passwordChangedURL = route.URL(route.Profile)

const (
	mismatchError    = auth.MsgMismatch
	oldPasswordError = "Your old password was entered incorrectly. Please enter it again."
)

// newPasswordFields maps the flows' field names to the password forms'.
var newPasswordFields = map[string]string{"password": "new_password1"}

func (h *accountPages) passwordChangePage(c *gin.Context) {
	p := h.page(c, "Change password")
	p.Narrow = true
	h.render(c, http.StatusOK, components.PasswordChangePage(p, newForm(nil), !h.sudoFresh(c)))
}

// passwordChangeSubmit is Django's PasswordChangeView made stricter
// (auth.Accounts.ChangePassword): this session stays signed in under a
// new token, every other session of the user ends, every reset link in a
// mailbox stops working, a notice is mailed; a wrong old password counts
// against the login limit and is recorded.
func (h *accountPages) passwordChangeSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values)
	// A form that sent the old password gets its field back (with its
	// error); within a recent confirmation it is not asked for.
	askOld := !h.sudoFresh(c) || values.Get("old_password") != ""
	show := func(status int) { h.passwordChangeForm(c, status, form, askOld) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	ns, err := h.accounts.ChangePassword(c.Request.Context(), auth.ChangePasswordInput{
		User: currentUser(c), SessionID: st.ID, IP: c.ClientIP(),
		Old: values.Get("old_password"), New1: values.Get("new_password1"), New2: values.Get("new_password2"),
		ConfirmedWithin: h.cfg.ReauthTimeout,
	})
	if errors.Is(err, auth.ErrReauthRequired) {
		// The confirmation ran out between the page and the submit.
		h.toReauth(c)
		return
	}
	if errors.Is(err, auth.ErrWrongPassword) {
		addError(form, "old_password", oldPasswordError)
		show(http.StatusUnprocessableEntity)
		return
	}
	if err != nil {
		h.formFailure(c, "change password", err, form, "password attempts", newPasswordFields, show)
		return
	}
	st.Adopt(ns)
	touch(c)
	h.flash(c, "success", "Your password was changed. Every other session of your account has been signed out.")
	h.redirect(c, passwordChangedURL)
}

func (h *accountPages) passwordChangeForm(c *gin.Context, status int, form components.Form, askOld bool) {
	h.formOrPage(c, status, components.PasswordChangeForm(form, askOld), func() templ.Component {
		p := h.page(c, "Change password")
		p.Narrow = true
		return components.PasswordChangePage(p, form, askOld)
	})
}

// passwordChangeDonePage is Django's password_change_done URL, kept for
// links that expect it; the flow itself ends on the profile with a flash.
func (h *accountPages) passwordChangeDonePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.PasswordChangeDonePage(h.page(c, "Password changed")))
}
