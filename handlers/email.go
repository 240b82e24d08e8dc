package handlers

// E-mail change and verification (issue 13).
//
// Change (/accounts/email/, sudo): POST `email` queues a one-time link to
// the NEW address and tells the current one at once
// (auth.Accounts.RequestEmailChange). The answer is the same whether or
// not another account has the address, so the form enumerates nothing.
//
// Confirm (/accounts/confirm-email/<token>/, change or verification
// links): GET shows what would be confirmed and a button; only the POST
// confirms (auth.Accounts.ConfirmEmail), so a mail scanner fetching the
// link confirms nothing. It works in any browser: the token is the proof.
// A change ends every other session of the user and voids reset links.

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/route"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

func (h *accountPages) emailView(c *gin.Context) components.EmailView {
	u := currentUser(c)
	v := components.EmailView{Email: u.Email, Verified: u.EmailVerified, Verification: h.cfg.EmailVerification}
	// The pending change is a hint: a database error leaves it out rather
	// than failing the page.
	if p, err := h.accounts.PendingEmailChange(c.Request.Context(), u.ID); err == nil && p != nil {
		v.Pending, v.PendingUntil = p.Address, p.Until
	}
	return v
}

// emailPageMeta is the e-mail page's Page: its card says the address's
// state and offers the link again, so the reminder banner is not repeated.
func (h *accountPages) emailPageMeta(c *gin.Context) components.Page {
	p := h.page(c, tr(c, i18n.Message{ID: "title.your_e_mail_address", Other: "Your e-mail address"}))
	p.UnverifiedEmail = ""
	return p
}

// emailPage shows the address; a (checked) next is where confirming it
// leads on to (a page that needs a confirmed address sent the user here):
// the resend form carries it into the link.
func (h *accountPages) emailPage(c *gin.Context) {
	v := h.emailView(c)
	v.Next = h.checkedNext(c.Query("next"))
	h.render(c, http.StatusOK, components.EmailPage(h.emailPageMeta(c), v, newForm(nil)))
}

// emailSubmit asks for a change of address.
func (h *accountPages) emailSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "email")
	show := func(status int) {
		h.formOrPage(c, status, components.EmailChangeForm(form), func() templ.Component {
			return components.EmailPage(h.emailPageMeta(c), h.emailView(c), form)
		})
	}
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	email := validate.NormalizeEmail(values.Get("email"))
	err = h.accounts.RequestEmailChange(c.Request.Context(), auth.EmailChangeInput{User: currentUser(c), Email: values.Get("email")})
	if err != nil {
		h.formFailure(c, "request e-mail change", err, form, "confirmation e-mails", nil, show)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.email_change_sent", Other: "We sent a confirmation link to {{.Email}}. Your address changes when you open it and confirm."}, map[string]any{"Email": email}))
	h.redirect(c, components.EmailPath)
}

// resendVerificationSubmit mails the verification link again (limited
// per account), carrying the form's (checked) next; with one, the answer
// is the e-mail page with it, so the way on stays in view.
func (h *accountPages) resendVerificationSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.checkedNext(values.Get("next"))
	err = h.accounts.ResendVerification(c.Request.Context(), currentUser(c), next)
	var terr *auth.ThrottledError
	switch {
	case errors.As(err, &terr):
		_, msg := tooManyRequests(c, terr.Wait, "confirmation e-mails")
		h.flash(c, "error", "%s", msg)
	case err != nil:
		h.dbError(c, "resend verification", err)
		return
	default:
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.verification_resent", Other: "We sent a new confirmation link to {{.Email}}."}, map[string]any{"Email": currentUser(c).Email}))
	}
	if next != "" {
		h.redirect(c, withNext(components.EmailPath, next))
		return
	}
	h.redirect(c, components.ProfilePath)
}

// confirmEmailURL is the confirm page of a token (its own address).
func confirmEmailURL(token string) string { return route.URL(route.ConfirmEmail, token) }

func (h *accountPages) confirmEmailPage(c *gin.Context) {
	token := c.Param("token")
	hash, err := models.TokenHash(token)
	var et *auth.EmailToken
	if err == nil {
		et, err = h.accounts.CheckEmailToken(c.Request.Context(), hash)
	}
	if errors.Is(err, models.ErrInvalidToken) {
		h.render(c, http.StatusBadRequest, components.InvalidEmailLinkPage(h.page(c, tr(c, i18n.Message{ID: "title.link_not_valid", Other: "Link not valid"}))))
		return
	}
	if err != nil {
		h.dbError(c, "check e-mail token", err)
		return
	}
	// This page is the link the banner asks to open: no banner here.
	p := h.page(c, tr(c, i18n.Message{ID: "title.confirm_your_e_mail_address", Other: "Confirm your e-mail address"}))
	p.UnverifiedEmail = ""
	h.render(c, http.StatusOK, components.ConfirmEmailPage(p, et.Address,
		et.Purpose == models.PurposeEmailChange, confirmEmailURL(token), h.checkedNext(c.Query("next"))))
}

func (h *accountPages) confirmEmailSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.checkedNext(values.Get("next"))
	hash, err := models.TokenHash(c.Param("token"))
	var res *auth.EmailConfirmed
	st := session(c)
	if err == nil {
		res, err = h.accounts.ConfirmEmail(c.Request.Context(), hash, st.ID)
	}
	switch {
	case errors.Is(err, models.ErrInvalidToken):
		h.render(c, http.StatusBadRequest, components.InvalidEmailLinkPage(h.page(c, tr(c, i18n.Message{ID: "title.link_not_valid", Other: "Link not valid"}))))
		return
	case errors.Is(err, auth.ErrEmailTaken):
		h.render(c, http.StatusConflict, components.EmailTakenPage(h.page(c, tr(c, i18n.Message{ID: "title.address_not_available", Other: "Address not available"}))))
		return
	case err != nil:
		h.dbError(c, "confirm e-mail", err)
		return
	}
	if res.Purpose == models.PurposeEmailChange {
		h.flashVisitor(c, "success", "%s", tr(c, i18n.Message{ID: "flash.email_changed", Other: "Your e-mail address is now {{.Email}}. Every other session of your account was signed out."}, map[string]any{"Email": res.User.Email}))
	} else {
		h.flashVisitor(c, "success", "%s", tr(c, i18n.Message{ID: "flash.email_confirmed", Other: "Thank you: {{.Email}} is confirmed."}, map[string]any{"Email": res.User.Email}))
	}
	if u := currentUser(c); u != nil && u.ID == res.User.ID {
		h.redirect(c, h.safeNext(next, components.ProfilePath))
		return
	}
	h.redirect(c, withNext(h.cfg.LoginURL, next))
}

// Messages of e-mail verification (shown through components' errorTexts).
const (
	unverifiedLoginError = "Your e-mail address is not confirmed yet. We have e-mailed you a new confirmation link (at most a few an hour): open it and confirm, then sign in."
)

// adminEmailVerifiedSubmit lets staff set whether a user's address counts
// as verified.
func (h *adminPages) adminEmailVerifiedSubmit(c *gin.Context) {
	actor, target, ok := h.adminActionOn(c)
	if !ok {
		return
	}
	verified := c.Request.PostForm.Get("email_verified") == "on"
	err := h.accounts.AdminSetEmailVerified(c.Request.Context(), actor.ID, target.ID, verified)
	if errors.Is(err, auth.ErrOwnEmailHere) {
		h.toOwnEmailPage(c)
		return
	}
	if err != nil {
		h.adminError(c, "set e-mail verified", err)
		return
	}
	if verified {
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_email_verified", Other: "The e-mail address of “{{.Name}}” is now marked verified."}, map[string]any{"Name": target.Username}))
	} else {
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_email_unverified", Other: "The e-mail address of “{{.Name}}” is now marked not verified."}, map[string]any{"Name": target.Username}))
	}
	h.redirect(c, adminUserURL(target.ID))
}
