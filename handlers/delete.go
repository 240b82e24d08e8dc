package handlers

// Deleting one's own account (/accounts/delete/, sudo): a confirmation page
// with the password (auth.Accounts.DeleteOwnAccount — throttled like a
// login, one transaction, goodbye mail, tombstoned events). The last
// active superuser cannot leave.

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/route"
)

const lastSuperuserError = "You are the last active superuser: make someone else a superuser before deleting your account."

func (h *accountPages) deleteAccountPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.DeleteAccountPage(h.page(c, tr(c, i18n.Message{ID: "title.delete_your_account", Other: "Delete your account"})), newForm(nil)))
}

func (h *accountPages) deleteAccountSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values)
	show := func(status int) {
		h.formOrPage(c, status, components.DeleteAccountForm(form), func() templ.Component {
			return components.DeleteAccountPage(h.page(c, tr(c, i18n.Message{ID: "title.delete_your_account", Other: "Delete your account"})), form)
		})
	}
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	err = h.accounts.DeleteOwnAccount(c.Request.Context(), auth.DeleteAccountInput{
		User: currentUser(c), IP: c.ClientIP(), Password: values.Get("password"),
	})
	switch {
	case errors.Is(err, auth.ErrWrongPassword):
		addError(form, "password", reauthWrongPassword)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, auth.ErrLastSuperuser):
		addError(form, "", lastSuperuserError)
		show(http.StatusConflict)
		return
	case err != nil:
		h.formFailure(c, "delete own account", err, form, "password attempts", nil, show)
		return
	}
	st := session(c)
	st.End()
	touch(c)
	setCurrentUser(c, nil)
	h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.your_account_was_deleted_goodbye", Other: "Your account was deleted. Goodbye!"}))
	h.redirect(c, route.URL(route.AccountDeleted))
}

func (h *accountPages) accountDeletedPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.AccountDeletedPage(h.page(c, tr(c, i18n.Message{ID: "title.account_deleted", Other: "Account deleted"}))))
}
