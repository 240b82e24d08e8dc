package handlers

// Re-authentication ("sudo mode"). Sensitive actions — changing the
// password or the e-mail address, deleting the account, second-factor
// changes, a staff member changing someone's privileges — need the
// password given in this session within the last REAUTH_TIMEOUT, however
// long ago the user signed in. requireSudo guards them:
//
//   - a GET goes to /accounts/reauthenticate/?next=<that page>;
//   - a POST goes there with next = the page the form was on (the Referer
//     when it is a page of this site, else the GET of the POST's path).
//     What was typed is NOT carried over: the forms behind sudo hold
//     passwords or addresses, which must not travel through a URL or be
//     stored in the session; the user fills the form again.
//
// The confirmation (auth.Accounts.Reauthenticate) is throttled by the
// login limit of (username, address), is recorded, and moves the session
// to a new token with reauth_at set.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// Paths of re-authentication.
var reauthURL = route.URL(route.Reauth)

// reauthFallback is where a confirmation without a usable next goes.
var reauthFallback = route.URL(route.Profile)

const reauthWrongPassword = "Your password was entered incorrectly. Please enter it again."

const reauthWrongCode = "That code is not valid. Codes from the app work once and change every 30 seconds."

// sudoFresh reports whether the session's password confirmation is recent.
func (h *Handler) sudoFresh(c *gin.Context) bool {
	at := session(c).ReauthAt
	return at != nil && time.Since(*at) < h.cfg.ReauthTimeout
}

// requireSudo is the middleware of sensitive pages: without a recent
// password confirmation the request goes to the re-authentication page.
func (h *middleware) requireSudo(c *gin.Context) {
	if h.sudoFresh(c) {
		c.Next()
		return
	}
	h.toReauth(c)
	c.Abort()
}

// toReauth sends the request to the re-authentication page with next set
// to where the user should come back to.
func (h *Handler) toReauth(c *gin.Context) {
	next := c.Request.URL.RequestURI()
	if c.Request.Method != http.MethodGet {
		next = c.Request.URL.Path
		if ref := h.localReferer(c); ref != "" {
			next = ref
		}
	}
	if !isLocalPath(next) {
		next = reauthFallback
	}
	if c.Request.Method != http.MethodGet {
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.please_confirm_your_password_then", Other: "Please confirm your password, then submit the form again."}))
	}
	h.redirect(c, reauthURL+"?next="+url.QueryEscape(next))
}

// localReferer returns the path (and query) of the Referer when it is a
// page of this site, else "".
func (h *Handler) localReferer(c *gin.Context) string {
	ref, err := url.Parse(c.Request.Referer())
	if err != nil || ref.Host != c.Request.Host || (ref.Scheme != "http" && ref.Scheme != "https") {
		return ""
	}
	p := ref.EscapedPath()
	if ref.RawQuery != "" {
		p += "?" + ref.RawQuery
	}
	if !isLocalPath(p) || strings.HasPrefix(p, reauthURL) {
		return ""
	}
	return p
}

// privilegeChange reports whether an admin edit would change the target's
// staff or superuser flag (only such edits need sudo).
func privilegeChange(target *models.User, ch auth.UserChanges) bool {
	return (ch.IsStaff != nil && *ch.IsStaff != target.IsStaff) ||
		(ch.IsSuperuser != nil && *ch.IsSuperuser != target.IsSuperuser)
}

func (h *accountPages) reauthPage(c *gin.Context) {
	h.renderReauth(c, http.StatusOK, newForm(nil), h.safeNext(c.Query("next"), ""))
}

// reauthView is what the page asks of this user: a code beside the
// password when they have a second factor, and a passkey ceremony when
// they have a passkey.
func (h *accountPages) reauthView(c *gin.Context, next string) (components.Reauth, error) {
	r := components.Reauth{Next: next}
	u := currentUser(c)
	pr, err := h.userProviderButtons(c, u.ID)
	if err != nil {
		return r, err
	}
	r.Providers = pr
	has, err := h.accounts.HasSecondFactor(c.Request.Context(), u.ID)
	if err != nil {
		return r, err
	}
	r.NeedCode = has
	if !has {
		return r, nil
	}
	cer, err := h.accounts.BeginPasskeyReauth(c.Request.Context(), u, session(c).ID)
	switch {
	case err == nil:
		r.PasskeyOptions, r.PasskeyState = string(cer.Options), cer.State
	case !errors.Is(err, models.ErrNotFound) && !errors.Is(err, auth.ErrMFAUnavailable):
		return r, err
	}
	return r, nil
}

// renderReauth answers with the confirmation form: the fragment alone to
// htmx, the whole page (with a fresh passkey ceremony) otherwise.
func (h *accountPages) renderReauth(c *gin.Context, status int, form components.Form, next string) {
	r, err := h.reauthView(c, next)
	if err != nil {
		h.dbError(c, "re-authentication page", err)
		return
	}
	h.formOrPage(c, status, components.ReauthForm(form, r), func() templ.Component {
		p := h.page(c, tr(c, i18n.Message{ID: "title.confirm_it_s_you", Other: "Confirm it's you"}))
		p.Narrow = true
		return components.ReauthPage(p, form, r)
	})
}

// reauthSubmit checks the password, and the code of a user with a second
// factor (auth.Accounts.Reauthenticate), and sends the user back to next.
func (h *accountPages) reauthSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.safeNext(values.Get("next"), "")
	form := newForm(values)
	show := func(status int) { h.renderReauth(c, status, form, next) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	res, err := h.accounts.Reauthenticate(c.Request.Context(), auth.ReauthInput{
		User: currentUser(c), SessionID: st.ID, IP: c.ClientIP(), Password: values.Get("password"), Code: values.Get("code"),
	})
	switch {
	case errors.Is(err, auth.ErrWrongPassword):
		addError(form, "password", reauthWrongPassword)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, auth.ErrWrongCode):
		addError(form, "code", reauthWrongCode)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, models.ErrNotFound):
		h.reauthSessionGone(c)
		return
	case err != nil:
		h.formFailure(c, "re-authenticate", err, form, "attempts", nil, show)
		return
	}
	st.Adopt(res.Session)
	touch(c)
	if res.RecoveryLeft >= 0 {
		level := "info"
		if res.RecoveryLeft <= auth.RecoveryCodesLow {
			level = "warning"
		}
		h.flashLink(c, level, route.URL(route.RecoveryCodes), tr(c, i18n.Message{ID: "flash.recovery_new_set", Other: "Make a new set"}), "%s",
			locale.N(c.Request.Context(), i18n.Message{ID: "flash.recovery_used", One: "You used a recovery code; {{.Count}} left.", Other: "You used a recovery code; {{.Count}} left."}, res.RecoveryLeft))
	}
	h.redirect(c, h.safeNext(next, reauthFallback))
}

// reauthPasskeySubmit confirms the user with one of their passkeys alone
// (auth.Accounts.PasskeyReauthenticate); webauthn.js posts the form.
func (h *accountPages) reauthPasskeySubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.safeNext(values.Get("next"), "")
	form := newForm(nil)
	show := func(status int) { h.renderReauth(c, status, form, next) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	ns, err := h.accounts.PasskeyReauthenticate(c.Request.Context(), auth.PasskeyReauthInput{
		User: currentUser(c), SessionID: st.ID, State: values.Get("state"), Response: []byte(values.Get("credential")),
	})
	switch {
	case errors.Is(err, auth.ErrPasskeyFailed), errors.Is(err, auth.ErrMFAUnavailable):
		addError(form, "", "The passkey could not be verified. Try again, or use your password and a code.")
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, models.ErrNotFound):
		h.reauthSessionGone(c)
		return
	case err != nil:
		h.formFailure(c, "passkey re-authentication", err, form, "attempts", nil, show)
		return
	}
	st.Adopt(ns)
	touch(c)
	h.redirect(c, h.safeNext(next, reauthFallback))
}

// reauthSessionGone answers a confirmation whose session ended meanwhile
// (revoked elsewhere): sign in again.
func (h *accountPages) reauthSessionGone(c *gin.Context) {
	st := session(c)
	st.End()
	touch(c)
	h.redirect(c, h.cfg.LoginURL)
}
