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
// The confirmation (models.Accounts.Reauthenticate) is throttled by the
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

	"gatehouse/components"
	"gatehouse/models"
)

// Paths of re-authentication.
const reauthURL = "/accounts/reauthenticate/"

// reauthFallback is where a confirmation without a usable next goes.
const reauthFallback = "/accounts/profile/"

const reauthWrongPassword = "Your password was entered incorrectly. Please enter it again."

// sudoFresh reports whether the session's password confirmation is recent.
func (h *Handler) sudoFresh(c *gin.Context) bool {
	at := session(c).ReauthAt
	return at != nil && time.Since(*at) < h.cfg.ReauthTimeout
}

// requireSudo is the middleware of sensitive pages: without a recent
// password confirmation the request goes to the re-authentication page.
func (h *Handler) requireSudo(c *gin.Context) {
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
		h.flash(c, "info", "Please confirm your password, then submit the form again.")
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
func privilegeChange(target *models.User, ch models.UserChanges) bool {
	return (ch.IsStaff != nil && *ch.IsStaff != target.IsStaff) ||
		(ch.IsSuperuser != nil && *ch.IsSuperuser != target.IsSuperuser)
}

func (h *Handler) reauthPage(c *gin.Context) {
	next := safeNext(c.Query("next"), "")
	p := h.page(c, "Confirm your password")
	p.Narrow = true
	h.render(c, http.StatusOK, components.ReauthPage(p, newForm(nil), next))
}

// reauthSubmit checks the password (models.Accounts.Reauthenticate) and
// sends the user back to next.
func (h *Handler) reauthSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := safeNext(values.Get("next"), "")
	form := newForm(values)
	show := func(status int) { h.reauthForm(c, status, form, next) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	st := session(c)
	ns, err := h.accounts.Reauthenticate(c.Request.Context(), models.ReauthInput{
		User: currentUser(c), SessionID: st.ID, IP: c.ClientIP(), Password: values.Get("password"),
	})
	switch {
	case errors.Is(err, models.ErrWrongPassword):
		addError(form, "password", reauthWrongPassword)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, models.ErrNotFound):
		// The session ended meanwhile (revoked elsewhere): sign in again.
		st.End()
		touch(c)
		h.redirect(c, h.cfg.LoginURL)
		return
	case err != nil:
		h.formFailure(c, "re-authenticate", err, form, "password attempts", nil, show)
		return
	}
	st.Adopt(ns)
	touch(c)
	h.redirect(c, safeNext(next, reauthFallback))
}

func (h *Handler) reauthForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.ReauthForm(form, next), func() templ.Component {
		p := h.page(c, "Confirm your password")
		p.Narrow = true
		return components.ReauthPage(p, form, next)
	})
}
