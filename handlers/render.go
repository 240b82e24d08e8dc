package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/passhash"
	"gatehouse/models"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render renders comp into a buffer first, then saves the session and writes
// status and body: a failed render never sends half a page.
func (h *Handler) render(c *gin.Context, status int, comp templ.Component) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	// Rendering touches no database: the request's database deadline
	// (requestContext) must not fail the page, least of all the 503
	// page it causes. A client that left still stops it.
	ctx := c.Request.Context()
	if !errors.Is(ctx.Err(), context.Canceled) {
		ctx = context.WithoutCancel(ctx)
	}
	if err := comp.Render(ctx, buf); err != nil {
		if h.clientGone(c, "render", err) {
			return
		}
		h.log.Error("render", "route", c.FullPath(), "err", err)
		c.String(http.StatusInternalServerError, "Internal server error")
		return
	}
	if !h.saveSession(c) {
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// redirect answers HX-Redirect to htmx (a 303 would be followed by fetch and
// its target swapped into the page) and 303 See Other to everything else.
func (h *Handler) redirect(c *gin.Context, to string) {
	if !h.saveSession(c) {
		return
	}
	if isHTMX(c) {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusOK)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

func isHTMX(c *gin.Context) bool { return c.GetHeader("HX-Request") == "true" }

// page builds what the layout needs, taking the pending flashes.
func (h *Handler) page(c *gin.Context, title string) components.Page {
	p := components.Page{Title: title, LanguageNext: languageNext(c.Request)}
	if u := currentUser(c); u != nil {
		p.User = &components.CurrentUser{Username: u.Username, IsStaff: u.IsStaff}
		if h.cfg.EmailVerification == auth.VerifyOptional && !u.EmailVerified && u.Email != "" {
			p.UnverifiedEmail = u.Email
		}
	}
	for _, f := range h.takeFlashes(c) {
		p.Flashes = append(p.Flashes, components.Flash{Level: f.Level, Message: f.Message, Link: f.Link, LinkText: f.LinkText})
	}
	return p
}

// errorTitles and errorTexts are the titles and texts of the error pages.
// The keys are the status codes as numbers: goi18n extract reads these
// literals without loading net/http.
var errorTitles = map[int]i18n.Message{
	400: {ID: "error.400.title", Other: "Bad request"},
	403: {ID: "error.403.title", Other: "Forbidden"},
	404: {ID: "error.404.title", Other: "Page not found"},
	405: {ID: "error.405.title", Other: "Method not allowed"},
	413: {ID: "error.413.title", Other: "Request too large"},
	429: {ID: "error.429.title", Other: "Too many requests"},
	500: {ID: "error.500.title", Other: "Server error"},
	503: {ID: "error.503.title", Other: "Temporarily unavailable"},
}

var errorTexts = map[int]i18n.Message{
	400: {ID: "error.400.text", Other: "The request could not be understood."},
	403: {ID: "error.403.text", Other: "You do not have permission to do that."},
	404: {ID: "error.404.text", Other: "There is nothing at this address."},
	405: {ID: "error.405.text", Other: "This address does not accept that kind of request."},
	413: {ID: "error.413.text", Other: "What you sent is larger than this site accepts. Shorten it and try again."},
	429: {ID: "error.429.text", Other: "Too many attempts. Wait a little and try again."},
	500: {ID: "error.500.text", Other: "Something went wrong on our side. It has been logged; please try again."},
	503: {ID: "error.503.text", Other: "The service is busy or under maintenance. Please try again in a few seconds."},
}

var errorTitleOther = i18n.Message{ID: "error.other.title", Other: "Error"}

// errorResponse answers with the error page for status; to htmx it sends an
// alert for the page's message area instead, leaving the form untouched.
func (h *Handler) errorResponse(c *gin.Context, status int) {
	title, msg := tr(c, errorTitleOther), http.StatusText(status)
	if m, ok := errorTitles[status]; ok {
		title, msg = tr(c, m), tr(c, errorTexts[status])
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		c.Header("Retry-After", "5")
	}
	if isHTMX(c) {
		c.Header("HX-Retarget", "#messages")
		c.Header("HX-Reswap", "innerHTML")
		h.render(c, status, components.ErrorAlert(msg))
		return
	}
	p := components.Page{Title: title}
	if u := currentUser(c); u != nil {
		p.User = &components.CurrentUser{Username: u.Username, IsStaff: u.IsStaff}
	}
	h.render(c, status, components.ErrorPage(p, status, msg))
}

// dbError answers a failed model call: 503 when the database is unavailable
// (locked, read-only …), 500 otherwise; both are logged without secrets.
func (h *Handler) dbError(c *gin.Context, op string, err error) {
	if !errors.Is(err, models.ErrCorrupt) && h.clientGone(c, op, err) {
		return
	}
	if errors.Is(err, models.ErrUnavailable) || errors.Is(err, passhash.ErrBusy) {
		h.log.Warn("service unavailable", "op", op, "err", err)
		h.errorResponse(c, http.StatusServiceUnavailable)
		return
	}
	if errors.Is(err, models.ErrCorrupt) {
		h.log.Error("database corrupt or replaced: restore it from a backup", "op", op, "err", err)
		h.errorResponse(c, http.StatusInternalServerError)
		return
	}
	h.log.Error("request failed", "op", op, "err", err)
	h.errorResponse(c, http.StatusInternalServerError)
}

func (h *Handler) notFound(c *gin.Context) { h.errorResponse(c, http.StatusNotFound) }

func (h *Handler) methodNotAllowed(c *gin.Context) {
	h.errorResponse(c, http.StatusMethodNotAllowed)
}

// crossOriginDenied answers cross-site writes rejected by
// http.CrossOriginProtection, outside Gin.
func (h *Handler) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf bytes.Buffer
	ctx := locale.With(r.Context(), h.localizerFor(r, nil))
	err := components.ErrorPage(components.Page{Title: ctxT(ctx, errorTitles[http.StatusForbidden])}, http.StatusForbidden,
		ctxT(ctx, i18n.Message{ID: "error.cross_origin", Other: "Cross-site requests are not allowed. Reload the page and try again."})).Render(ctx, &buf)
	w.WriteHeader(http.StatusForbidden)
	if err == nil {
		_, _ = w.Write(buf.Bytes())
	}
	h.log.Info("cross-origin request refused", "method", r.Method, "origin", r.Header.Get("Origin"),
		"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "status", strconv.Itoa(http.StatusForbidden))
}
