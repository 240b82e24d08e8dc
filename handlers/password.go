package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/models"
)

// Messages shared by the password forms (Django's wording where it has one).
const (
	requiredError     = "This field is required."
	mismatchError     = "The two password fields didn't match."
	oldPasswordError  = "Your old password was entered incorrectly. Please enter it again."
	busyError         = "Too many passwords are being checked right now. Please try again in a few seconds."
	passwordChangeURL = "/accounts/password_change/done/"
)

// checkNewPasswords adds the errors of a new-password pair: required, the
// validators (on new_password1), and the match (on new_password2).
func checkNewPasswords(form components.Form, p1, p2, username, email string) {
	if p1 == "" {
		addError(form, "new_password1", requiredError)
	} else {
		for _, m := range models.ValidatePassword(p1, username, email) {
			addError(form, "new_password1", m)
		}
	}
	switch {
	case p2 == "":
		addError(form, "new_password2", requiredError)
	case p1 != "" && p1 != p2:
		addError(form, "new_password2", mismatchError)
	}
}

func (h *Handler) passwordChangePage(c *gin.Context) {
	p := h.page(c, "Change password")
	p.Narrow = true
	h.render(c, http.StatusOK, components.PasswordChangePage(p, newForm(nil)))
}

// passwordChangeSubmit is Django's PasswordChangeView with the session rules
// of update_session_auth_hash made stricter: this session stays signed in
// under a new token, every other session of the user ends, and every reset
// link still in a mailbox stops working.
func (h *Handler) passwordChangeSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	form := newForm(values)
	if formMsg != "" {
		addError(form, "", formMsg)
	}
	old, p1, p2 := values.Get("old_password"), values.Get("new_password1"), values.Get("new_password2")
	if old == "" {
		addError(form, "old_password", requiredError)
	}
	checkNewPasswords(form, p1, p2, user.Username, user.Email)
	if old != "" {
		ok, err := h.users.CheckPassword(ctx, user, old)
		if errors.Is(err, models.ErrBusy) {
			c.Header("Retry-After", "5")
			addError(form, "", busyError)
			h.passwordChangeForm(c, http.StatusServiceUnavailable, form)
			return
		}
		if err != nil {
			h.dbError(c, "check password", err)
			return
		}
		if !ok {
			addError(form, "old_password", oldPasswordError)
		}
	}
	if form.HasErrors() {
		h.passwordChangeForm(c, http.StatusUnprocessableEntity, form)
		return
	}
	err = h.users.SetPassword(ctx, user, p1)
	var verr *models.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, m := range verr.Fields["password"] {
			addError(form, "new_password1", m)
		}
		h.passwordChangeForm(c, http.StatusUnprocessableEntity, form)
		return
	case errors.Is(err, models.ErrBusy):
		c.Header("Retry-After", "5")
		addError(form, "", busyError)
		h.passwordChangeForm(c, http.StatusServiceUnavailable, form)
		return
	case err != nil:
		h.dbError(c, "set password", err)
		return
	}
	// New token for this session, saved now so its ID is known, then end
	// every other session of the user.
	if err := h.rotateSession(c); err != nil {
		h.dbError(c, "rotate session", err)
		return
	}
	if !h.saveSession(c) {
		return
	}
	current := ""
	if gs := gorillaSession(sessions.Default(c)); gs != nil {
		current = gs.ID
	}
	if current == "" {
		h.dbError(c, "rotate session", models.ErrUnavailable)
		return
	}
	if _, err := h.sessions.DeleteForUser(ctx, user.ID, current); err != nil {
		h.dbError(c, "end other sessions", err)
		return
	}
	h.audit(c, models.AuthEvent{Kind: models.EventPasswordChanged, UserID: &user.ID, Username: user.Username})
	h.sendPasswordChanged(ctx, user)
	h.redirect(c, passwordChangeURL)
}

func (h *Handler) passwordChangeForm(c *gin.Context, status int, form components.Form) {
	if isHTMX(c) {
		h.render(c, status, components.PasswordChangeForm(form))
		return
	}
	p := h.page(c, "Change password")
	p.Narrow = true
	h.render(c, status, components.PasswordChangePage(p, form))
}

func (h *Handler) passwordChangeDonePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.PasswordChangeDonePage(h.page(c, "Password changed")))
}
