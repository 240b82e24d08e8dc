package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/internal/route"
	"gatehouse/internal/websession"
	"gatehouse/metrics"
	"gatehouse/models"
)

const userKey = "gatehouse.user"

// contentSecurityPolicy allows scripts and styles from our own origin only:
// no inline scripts, no hx-on, no eval.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// cspFor is the site's policy: contentSecurityPolicy, whose form-action
// also allows the hosts within SESSION_COOKIE_DOMAIN (any port, the site's
// scheme) when it is set. Browsers apply form-action to the redirects
// that follow a form's submission, so with 'self' alone the login form,
// the passkey sign-in, the second step or a step-up that sends a person
// back to a protected app would be blocked at the last redirect. Those
// hosts receive the session cookie anyway.
func cspFor(baseURL, cookieDomain string) string {
	scheme, _, ok := strings.Cut(baseURL, "://")
	d := strings.TrimPrefix(cookieDomain, ".")
	if cookieDomain == "" || !ok || (scheme != "http" && scheme != "https") || d == "" || !validAuthority(d) || strings.Contains(d, ":") {
		return contentSecurityPolicy
	}
	return strings.Replace(contentSecurityPolicy, "form-action 'self'",
		"form-action 'self' "+scheme+"://"+d+":* "+scheme+"://*."+d+":*", 1)
}

// hstsValue asks browsers to use https for two years, subdomains included,
// once the site is served over https (BASE_URL https://…).
const hstsValue = "max-age=63072000; includeSubDomains"

// secure reports whether the site is served over https.
func (h *Handler) secure() bool { return strings.HasPrefix(h.cfg.BaseURL, "https://") }

// securityHeaderValues are the headers every response carries, their keys
// already in canonical form and their values built once: setting them is a
// map assignment per header, no allocation. The value slices are shared by
// every response, which is safe because each has len == cap: Header.Add
// on one copies it instead of appending in place, and Set replaces it.
var securityHeaderValues = []struct {
	key string
	val []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"same-origin"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=()"}},
}

var hstsHeaderValue = []string{hstsValue}

// securityHeaders sets the headers every response carries.
func (h *middleware) securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd["Content-Security-Policy"] = h.csp[:1:1]
	for _, v := range securityHeaderValues {
		hd[v.key] = v.val[:1:1]
	}
	if h.secure() {
		hd["Strict-Transport-Security"] = hstsHeaderValue[:1:1]
	}
	c.Next()
}

// noStore marks responses as depending on who is signed in: never cached,
// and varying with HX-Request since htmx gets fragments, and with
// Accept-Language since a visitor's language may come from it.
func (h *middleware) noStore(c *gin.Context) {
	hd := c.Writer.Header()
	hd["Cache-Control"] = noStoreValue[:1:1]
	hd["Vary"] = varyValue[:1:1]
	c.Next()
}

var (
	noStoreValue = []string{"no-store"}
	varyValue    = []string{"Cookie, HX-Request, Accept-Language"}
)

// limitBody refuses bodies over the cap: at once when Content-Length says
// so, and while reading otherwise (decodeForm answers 413 then).
func (h *middleware) limitBody(c *gin.Context) {
	if c.Request.ContentLength > h.cfg.MaxBodyBytes {
		h.localizeEarly(c)
		h.errorResponse(c, http.StatusRequestEntityTooLarge)
		c.Abort()
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBodyBytes)
	}
	c.Next()
}

// requestContextFor is requestContext for the routes of engine.
func (h *middleware) requestContextFor(engine *gin.Engine) gin.HandlerFunc {
	resolve := clientOf(engine)
	return func(c *gin.Context) { h.requestContext(c, resolve) }
}

// clientOf resolves a request's client as engine sees it: the address
// with its trusted proxies applied (gin's ClientIP) and the user agent.
func clientOf(engine *gin.Engine) clientResolver {
	return func(r *http.Request) models.ClientInfo {
		// Gin resolves the address only for a gin.Context of the engine:
		// a fresh one, since the request's own serves another request
		// once this one is done, and a late reader must still get this
		// request's client.
		c := gin.CreateTestContextOnly(nil, engine)
		c.Request = r
		return models.ClientInfo{IP: c.ClientIP(), UserAgent: r.UserAgent()}
	}
}

// requestContext gives the request the context the app's handlers run
// in (a requestScope: one allocation for all of it):
//   - the request's ID (setRequestID), for lines logged with the context;
//   - the client's address (trusted proxies applied) and user agent, where
//     the session store and the event log record them, resolved when they
//     first ask (resolve);
//   - a deadline of DatabaseTimeout (time spent waiting for or doing
//     password hashing, which HASH_QUEUE_TIMEOUT bounds on its own, does
//     not count), so every statement of the request, on SQLite or
//     PostgreSQL, ends by then: a locked table or a hung server answers 503
//     with Retry-After in time, and the request's transaction rolls back
//     (database/sql rolls back a transaction whose context ends), so a 503
//     leaves nothing half done.
//
// Routes that never reach the database (/healthz, the static files) skip
// it: their ID is in the response header and the request's log line.
func (h *middleware) requestContext(c *gin.Context, resolve clientResolver) {
	// A database file removed or replaced under the server (found by the
	// probe's watch): every answer would come from, and every write go
	// to, the old unlinked file and be lost at restart.
	if err := h.probe.FileFault(); err != nil {
		h.localizeEarly(c)
		h.dbError(c, "database file", fmt.Errorf("%w: %w", models.ErrUnavailable, err))
		c.Abort()
		return
	}
	r := c.Request
	s := newRequestScope(r.Context(), requestID(c), r, resolve, h.cfg.DatabaseTimeout)
	defer s.Cancel()
	// In place, as gorilla/sessions' registry and loadUser already change
	// it: nothing else holds this request to see its old context (net/http
	// keeps its own cancel function), and a copy would cost an allocation
	// of the whole request.
	*r = *r.WithContext(s)
	c.Next()
}

// ceremonyMaxBody caps the body of a passkey ceremony: a response is a few
// KB; anything near the general cap is an attempt to store junk.
const ceremonyMaxBody = 64 << 10

// limitCeremonyBody caps passkey ceremony bodies at ceremonyMaxBody (413
// above), on top of limitBody.
func (h *middleware) limitCeremonyBody(c *gin.Context) {
	if c.Request.ContentLength > ceremonyMaxBody {
		h.errorResponse(c, http.StatusRequestEntityTooLarge)
		c.Abort()
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, ceremonyMaxBody)
	}
	c.Next()
}

// loadUser resolves the session's user. A user who has been deactivated
// since is signed out here, on their next request (a deleted user's
// sessions went with the row).
func (h *middleware) loadUser(c *gin.Context) {
	if !h.hasSessionCookie(c) {
		c.Next() // no cookie: anonymous, and no database work
		return
	}
	if p := c.FullPath(); p == forwardAuthPattern || p == forwardRequestPattern {
		// Forward auth decides on the user's groups: read them in the
		// session lookup's statement. The request is changed in place
		// (as gorilla/sessions does): the sessions middleware holds it.
		r := c.Request
		*r = *r.WithContext(websession.WithGroups(r.Context()))
	}
	if err := h.loadSession(c); err != nil {
		h.dbError(c, "load session", err)
		c.Abort()
		return
	}
	st := session(c)
	switch {
	case st.UserID == nil:
	case st.SignedIn() && st.User.IsActive:
		setCurrentUser(c, st.User)
	default:
		// Inactive (or gone): end the session for good.
		st.End()
		touch(c)
		if !h.saveSession(c) {
			c.Abort()
			return
		}
	}
	c.Next()
}

// The forward-auth routes' patterns (loadUser compares each request's).
var (
	forwardAuthPattern    = route.Pattern(route.ForwardAuth)
	forwardRequestPattern = route.Pattern(route.ForwardRequest)
)

// currentUser returns the signed-in user as the session lookup read it
// (the models.SessionUser part of the row), or nil. A flow that needs
// more of the row (the password hash, the keys, the dates) reads it.
func currentUser(c *gin.Context) *models.SessionUser {
	u, _ := c.Get(userKey)
	user, _ := u.(*models.SessionUser)
	return user
}

// setCurrentUser makes u the request's signed-in user (nil: nobody) for
// the rest of the request.
func setCurrentUser(c *gin.Context, u *models.SessionUser) {
	c.Set(userKey, u)
}

// requireLogin is Django's login_required: anonymous requests go to the
// login page with ?next= set to where they were going.
func (h *middleware) requireLogin(c *gin.Context) {
	if currentUser(c) != nil {
		c.Next()
		return
	}
	h.redirect(c, h.cfg.LoginURL+"?next="+url.QueryEscape(c.Request.URL.RequestURI()))
	c.Abort()
}

// guestOnly sends a signed-in user on to where they would go after logging
// in, so the login page is not shown to someone already in.
func (h *middleware) guestOnly(c *gin.Context) {
	if currentUser(c) == nil {
		c.Next()
		return
	}
	h.redirect(c, h.safeNext(c.Query("next"), h.cfg.LoginRedirectURL))
	c.Abort()
}

// logRequests logs one line per request: its ID (also sent back as
// X-Request-ID, see requestid.go) and the route pattern, not the raw path,
// since paths such as /accounts/reset/<token>/ carry secrets.
func (h *middleware) logRequests(c *gin.Context) {
	start := time.Now()
	id := setRequestID(c)
	h.warnUntrustedForwarding(c)
	c.Next()
	// Only values from fixed sets go into labels and log fields: a route
	// pattern of the table (or one value for the rest) and a known method.
	route := c.FullPath()
	if route == "" {
		route = "(no route)"
	}
	h.requestDone(c.Request, id, route, c.Writer.Status(), start, c.ClientIP)
}

// requestDone counts a finished request in the metrics and logs its line
// (debug, or warn for a 5xx): logRequests' end, and the plain lane's
// (lane.go). clientIP is called only for a line that is logged.
func (h *middleware) requestDone(r *http.Request, id, route string, status int, start time.Time, clientIP func() string) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	// Most requests are not logged at all (debug level is off in
	// production) and metrics may be off: decide before reading the
	// clock again or building the line.
	logged := h.log.Enabled(r.Context(), level)
	if h.cfg.Metrics == nil && !logged {
		return
	}
	took := time.Since(start)
	h.cfg.Metrics.Request(route, r.Method, status, took)
	if !logged {
		return
	}
	h.log.Log(r.Context(), level, "request", "request_id", id, "method", metrics.MethodLabel(r.Method), "route", route, "status", status,
		"duration_ms", strconv.FormatFloat(float64(took.Microseconds())/1000, 'f', 2, 64),
		"client_ip", clientIP())
}

// recoverPanics turns a panic into a logged 500 page instead of a dropped
// connection or a stack trace in the browser.
func (h *middleware) recoverPanics(c *gin.Context) {
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			h.log.Error("panic serving request", "request_id", requestID(c), "route", c.FullPath(), "panic", rec, "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				h.errorResponse(c, http.StatusInternalServerError)
			}
			c.Abort()
		}
	}()
	c.Next()
}

// healthz answers "ok". It sets no Content-Type: net/http sniffs the same
// "text/plain; charset=utf-8" from the body, and without it the response
// has eight headers (the security headers, the request ID, no-store),
// which fit the header map's first group of eight slots: a ninth grows the
// map into a table, and net/http copies that table again when it writes
// the header, several allocations per probe (BenchmarkHealthzNet).
func (h *middleware) healthz(c *gin.Context) {
	hd := c.Writer.Header()
	hd["Cache-Control"] = noStoreValue[:1:1]
	c.Status(http.StatusOK)
	_, _ = c.Writer.WriteString("ok")
}
