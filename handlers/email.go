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

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/route"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

const emailChangeSent = "We sent a confirmation link to %s. Your address changes when you open it and confirm."

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
	p := h.page(c, "Your e-mail address")
	p.UnverifiedEmail = ""
	return p
}

func (h *accountPages) emailPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.EmailPage(h.emailPageMeta(c), h.emailView(c), newForm(nil)))
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
	h.flash(c, "success", emailChangeSent, email)
	h.redirect(c, components.EmailPath)
}

// resendVerificationSubmit mails the verification link again (limited
// per account).
func (h *accountPages) resendVerificationSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	err := h.accounts.ResendVerification(c.Request.Context(), currentUser(c))
	var terr *auth.ThrottledError
	switch {
	case errors.As(err, &terr):
		_, msg := tooManyRequests(c, terr.Wait, "confirmation e-mails")
		h.flash(c, "error", "%s", msg)
	case err != nil:
		h.dbError(c, "resend verification", err)
		return
	default:
		h.flash(c, "success", "We sent a new confirmation link to %s.", currentUser(c).Email)
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
		h.render(c, http.StatusBadRequest, components.InvalidEmailLinkPage(h.page(c, "Link not valid")))
		return
	}
	if err != nil {
		h.dbError(c, "check e-mail token", err)
		return
	}
	// This page is the link the banner asks to open: no banner here.
	p := h.page(c, "Confirm your e-mail address")
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
		h.render(c, http.StatusBadRequest, components.InvalidEmailLinkPage(h.page(c, "Link not valid")))
		return
	case errors.Is(err, auth.ErrEmailTaken):
		h.render(c, http.StatusConflict, components.EmailTakenPage(h.page(c, "Address not available")))
		return
	case err != nil:
		h.dbError(c, "confirm e-mail", err)
		return
	}
	if res.Purpose == models.PurposeEmailChange {
		h.flashVisitor(c, "success", "Your e-mail address is now %s. Every other session of your account was signed out.", res.User.Email)
	} else {
		h.flashVisitor(c, "success", "Thank you: %s is confirmed.", res.User.Email)
	}
	if u := currentUser(c); u != nil && u.ID == res.User.ID {
		h.redirect(c, h.safeNext(next, components.ProfilePath))
		return
	}
	h.redirect(c, withNext(h.cfg.LoginURL, next))
}

// Messages of e-mail verification.
const (
	signupConfirmFirst   = "Your account has been created. We sent a confirmation link to %s: open it and confirm, then sign in."
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
	h.flash(c, "success", "The e-mail address of “%s” is now marked %s.", target.Username, map[bool]string{true: "verified", false: "not verified"}[verified])
	h.redirect(c, adminUserURL(target.ID))
}
