package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/models"
)

// languageCookie holds a visitor's chosen language (Django's
// django_language): a language code, nothing secret.
const languageCookie = "gatehouse_language"

// languageCookieMaxAge is a year, as Django's LANGUAGE_COOKIE_AGE is
// usually set: the choice outlives sessions.
const languageCookieMaxAge = 365 * 24 * 60 * 60

// chooseLanguage picks the request's language: the signed-in user's saved
// choice, else the visitor's cookie, else Accept-Language, else
// LANGUAGE_CODE.
func (h *Handler) chooseLanguage(r *http.Request, u *models.SessionUser) string {
	if u != nil && locale.Supported(u.Language) {
		return u.Language
	}
	// Parsing every cookie costs; most requests carry no language cookie.
	if mentionsCookie(r, languageCookie) {
		if ck, err := r.Cookie(languageCookie); err == nil && locale.Supported(ck.Value) {
			return ck.Value
		}
	}
	if code := locale.Match(r.Header.Get("Accept-Language")); code != "" {
		return code
	}
	return h.cfg.LanguageCode
}

// localizerFor is the localizer of a request: its language and, for a
// signed-in user, their time zone.
func (h *Handler) localizerFor(r *http.Request, u *models.SessionUser) *locale.Localizer {
	l := locale.For(h.chooseLanguage(r, u))
	if u != nil && u.TimeZone != "" {
		l = l.In(locale.Zone(u.TimeZone))
	}
	return l
}

// localize puts the request's localizer in its context, where handlers
// (tr) and components (components.T) find it. It runs after loadUser.
func (h *middleware) localize(c *gin.Context) {
	l := h.localizerFor(c.Request, currentUser(c))
	if s, ok := c.Request.Context().(*requestScope); ok {
		// Nothing has wrapped requestContext's scope (a signed-in
		// request's session registry does): the scope holds it, without a
		// context value and a request copy.
		s.loc.Store(l)
	} else {
		c.Request = c.Request.WithContext(locale.With(c.Request.Context(), l))
	}
	c.Next()
}

// localizeEarly gives a request refused before its session is read (a body
// over the cap, a database file gone) a language for its error page: the
// visitor's cookie, Accept-Language or LANGUAGE_CODE (a signed-in user's
// saved choice needs the session, which such a refusal never reads).
func (h *Handler) localizeEarly(c *gin.Context) {
	c.Request = c.Request.WithContext(locale.With(c.Request.Context(), h.localizerFor(c.Request, nil)))
}

// tr is the request's translation of m.
func tr(c *gin.Context, m i18n.Message, data ...map[string]any) string {
	return locale.T(c.Request.Context(), m, data...)
}

// ctxT is tr for code holding only a context.
func ctxT(ctx context.Context, m i18n.Message, data ...map[string]any) string {
	return locale.T(ctx, m, data...)
}

// setLanguageSubmit is Django's set_language: POST language and next. A
// signed-in user's choice is saved on the account (it follows them to
// other browsers and decides their e-mails); everyone also gets the
// cookie, so the choice outlives signing out. next is checked like every
// redirect target (safeNext); a bad one sends home.
func (h *signInPages) setLanguageSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	code := c.PostForm("language")
	if !locale.Supported(code) {
		h.errorResponse(c, http.StatusBadRequest)
		return
	}
	next := safeNext(c.PostForm("next"), h.cfg.LoginRedirectURL)
	if u := currentUser(c); u != nil {
		if err := h.users.SetLanguage(c.Request.Context(), u.ID, code); err != nil {
			h.dbError(c, "set language", err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: languageCookie, Value: code, Path: "/", MaxAge: languageCookieMaxAge,
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
	h.redirect(c, next)
}

// languageNext is where the footer's language menu comes back to: the
// page itself when it was a GET, else nothing (home).
func languageNext(r *http.Request) string {
	if r.Method != http.MethodGet {
		return ""
	}
	if r.URL.RawQuery == "" && plainPath(r.URL.Path) {
		return r.URL.Path // the common case, without isLocalPath's parsing
	}
	u := url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	if !isLocalPath(u.RequestURI()) {
		return ""
	}
	return u.RequestURI()
}

// errorTextFor is one of the fixed English messages of the layers below
// (form errors, auth's refusals) in the request's language.
func errorTextFor(c *gin.Context, msg string) string {
	return components.ErrorText(c.Request.Context(), msg)
}

// mentionsCookie reports whether a Cookie header of r holds name= at all
// (cheaper than parsing them all; r.Cookie then reads it properly).
func mentionsCookie(r *http.Request, name string) bool {
	for _, v := range r.Header.Values("Cookie") {
		if strings.Contains(v, name+"=") {
			return true
		}
	}
	return false
}

// plainPath reports whether p is an absolute path of lower-case letters,
// digits, '-', '_', '.' and single slashes: a local path as it stands
// (no scheme, no host, no "//", no backslash, no dot segment).
func plainPath(p string) bool {
	if p == "" || p[0] != '/' || len(p) > 256 {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-', b == '_':
		case b == '/':
			if i > 0 && p[i-1] == '/' {
				return false
			}
		case b == '.':
			if p[i-1] == '/' {
				return false // "/." and "/.." segments, and hidden names
			}
		default:
			return false
		}
	}
	return true
}
