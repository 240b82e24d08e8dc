package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

// errTooLarge means the body went over the cap; the caller has answered 413.
var errTooLarge = errors.New("request body too large")

// errBodyRead means the body could not be read; the caller has answered.
var errBodyRead = errors.New("request body not read")

// decodeForm parses a urlencoded POST body. Over the cap it answers 413 and
// returns errTooLarge; a body that could not be read (client gone, read
// timeout) is answered 400 and returns errBodyRead. Malformed encoding is
// not fatal: the pairs that could be read are returned with a message for
// the form, so nothing typed is lost.
func (h *Handler) decodeForm(c *gin.Context) (url.Values, string, error) {
	var rec *readErrRecorder
	if b := c.Request.Body; b != nil && b != http.NoBody {
		rec = &readErrRecorder{ReadCloser: b}
		c.Request.Body = rec
	}
	err := c.Request.ParseForm()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		h.errorResponse(c, http.StatusRequestEntityTooLarge)
		return nil, "", errTooLarge
	}
	if rec != nil && rec.err != nil {
		h.bodyReadError(c, rec.err)
		return nil, "", errBodyRead
	}
	msg := ""
	if err != nil {
		msg = "Some of the form could not be read. Check what you entered and try again."
	}
	return c.Request.PostForm, msg, nil
}

// newForm returns a view form holding the given fields' submitted values,
// cleaned for display (invalid UTF-8 is not echoed back).
func newForm(values url.Values, fields ...string) components.Form {
	f := components.Form{Values: map[string]string{}, Errors: map[string][]string{}}
	for _, name := range fields {
		f.Values[name] = displayable(values.Get(name))
	}
	return f
}

// displayable replaces invalid UTF-8 and control characters with U+FFFD so
// hostile input can be shown back without harm.
func displayable(v string) string {
	if validate.CleanText(v) == "" {
		return v
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return unicode.ReplacementChar
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
}

// addError adds a message to a field ("" for the whole form).
func addError(f components.Form, field, msg string) {
	f.Errors[field] = append(f.Errors[field], msg)
}

// Messages shared by the forms (Django's wording where it has one).
const (
	requiredError = auth.MsgRequired
	busyError     = "Too many passwords are being checked right now. Please try again in a few seconds."
)

// formFailure is the one answer to a flow that failed on what was
// entered: a *models.ValidationError puts each message on its field
// (fields renames model fields to the form's) and answers 422; a limit
// (*auth.ThrottledError) answers 429 with Retry-After and a message
// naming what (e.g. "failed login attempts"); a busy hasher 503 with
// Retry-After. show renders the form with the status. Any other error is
// answered with the error page. It always answers.
func (h *Handler) formFailure(c *gin.Context, op string, err error, form components.Form, what string, fields map[string]string, show func(status int)) {
	var verr *models.ValidationError
	var terr *auth.ThrottledError
	switch {
	case errors.As(err, &verr):
		for field, msgs := range verr.Fields {
			if f, ok := fields[field]; ok {
				field = f
			}
			for _, m := range msgs {
				addError(form, field, m)
			}
		}
		show(http.StatusUnprocessableEntity)
	case errors.As(err, &terr):
		h.cfg.Metrics.ThrottleRefused(terr.Scope)
		status, msg := tooManyRequests(c, terr.Wait, what)
		addError(form, "", msg)
		show(status)
	case errors.Is(err, passhash.ErrBusy):
		c.Header("Retry-After", "5")
		addError(form, "", busyError)
		show(http.StatusServiceUnavailable)
	case errors.Is(err, models.ErrAccountInactive):
		// Only after the password (or the second step) was right.
		h.render(c, http.StatusForbidden, components.AccountInactivePage(h.page(c, tr(c, i18n.Message{ID: "title.account_inactive", Other: "Account inactive"}))))
	default:
		h.dbError(c, op, err)
	}
}

// formOrPage answers a form: the fragment alone to htmx (which swaps it),
// the whole page otherwise.
func (h *Handler) formOrPage(c *gin.Context, status int, fragment templ.Component, page func() templ.Component) {
	if isHTMX(c) {
		h.render(c, status, fragment)
		return
	}
	h.render(c, status, page())
}
