package handlers

// Forward auth: Gatehouse as the front door of other apps behind a reverse
// proxy (DESIGN.md "Forward auth").
//
//   - The proxy asks GET /auth/forward (Caddy forward_auth, Traefik
//     forwardAuth; the original request in X-Forwarded-Method, -Proto,
//     -Host, -Uri) or GET /auth/request (nginx auth_request; the original
//     request in X-Original-URL and X-Original-Method) with the visitor's
//     cookies. The X-Forwarded-*/X-Original-* headers are believed only
//     from TRUSTED_PROXIES: anyone else gets 403, since a client could
//     otherwise ask about any URL it likes.
//   - The rules in force (ACCESS_RULES, internal/access) decide: bypass
//     → 200 without identity; one_factor → 200 with Remote-User,
//     Remote-Email, Remote-Name, Remote-Groups for a signed-in active
//     user; two_factor → the same when the session was completed with a
//     second factor; deny → 403.
//   - Not signed in: 302 to the login page with next = the original URL
//     (on /auth/request: 401 with that Location, as nginx needs). A user
//     who must give a second factor goes to the re-authentication page
//     (step-up: the session stays and gains the factor); one without any
//     factor goes to set one up first (/accounts/2fa/?next=…), which
//     raises the session and leads back (mfa.go).
//   - A check reads the session, its user and the user's groups (one
//     statement, the session lookup's); it writes nothing. Denials and
//     step-ups are recorded as security events at most once per user and
//     rule per forwardEventEvery, so a busy app cannot flood the log.

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/access"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// forwardAuth is the forward-auth area.
type forwardAuth struct {
	*Handler
	accounts *auth.Accounts
	groups   *models.Groups
	events   *models.Events
	trusted  []netip.Prefix
	noted    *eventGate
}

func newForwardAuth(h *Handler, accounts *auth.Accounts, db *models.Groups, events *models.Events) *forwardAuth {
	return &forwardAuth{Handler: h, accounts: accounts, groups: db, events: events,
		trusted: parsePrefixes(h.cfg.TrustedProxies), noted: newEventGate(forwardEventEvery, 10000)}
}

// parsePrefixes reads TRUSTED_PROXIES (addresses and CIDR ranges, checked
// at start-up).
func parsePrefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

func (h *forwardAuth) fromTrustedProxy(c *gin.Context) bool {
	ap, err := netip.ParseAddrPort(c.Request.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// original is the request the proxy asks about.
type original struct {
	method, scheme, host, uri string
}

func (o original) url() string { return o.scheme + "://" + o.host + o.uri }

const (
	maxForwardHost = 261 // 253 + ":" + port
	maxForwardURI  = 8192
)

func cleanHeader(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) })
}

// fromForwarded reads X-Forwarded-Method, -Proto, -Host and -Uri.
func fromForwarded(r *http.Request) (original, bool) {
	o := original{
		method: r.Header.Get("X-Forwarded-Method"),
		scheme: strings.ToLower(r.Header.Get("X-Forwarded-Proto")),
		host:   strings.ToLower(r.Header.Get("X-Forwarded-Host")),
		uri:    r.Header.Get("X-Forwarded-Uri"),
	}
	if o.uri == "" {
		o.uri = "/"
	}
	if o.method == "" {
		o.method = http.MethodGet
	}
	return o, o.valid()
}

// fromOriginalURL reads X-Original-URL and X-Original-Method (nginx).
func fromOriginalURL(r *http.Request) (original, bool) {
	raw := r.Header.Get("X-Original-URL")
	if len(raw) > maxForwardHost+maxForwardURI+10 || !cleanHeader(raw) {
		return original{}, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return original{}, false
	}
	o := original{method: r.Header.Get("X-Original-Method"), scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), uri: u.RequestURI()}
	if o.method == "" {
		o.method = http.MethodGet
	}
	return o, o.valid()
}

func (o original) valid() bool {
	if o.scheme != "http" && o.scheme != "https" {
		return false
	}
	if o.host == "" || len(o.host) > maxForwardHost || !validAuthority(o.host) {
		return false
	}
	if len(o.uri) > maxForwardURI || !strings.HasPrefix(o.uri, "/") || !cleanHeader(o.uri) {
		return false
	}
	if len(o.method) > 16 || !cleanHeader(o.method) {
		return false
	}
	return true
}

// forward is GET /auth/forward.
func (h *forwardAuth) forward(c *gin.Context) { h.check(c, fromForwarded, false) }

// request is GET /auth/request.
func (h *forwardAuth) request(c *gin.Context) { h.check(c, fromOriginalURL, true) }

func (h *forwardAuth) check(c *gin.Context, read func(*http.Request) (original, bool), nginx bool) {
	if !h.fromTrustedProxy(c) {
		h.plain(c, http.StatusForbidden, "forward auth answers only proxies listed in TRUSTED_PROXIES")
		return
	}
	o, ok := read(c.Request)
	if !ok {
		h.plain(c, http.StatusBadRequest, "the proxy sent no usable original request (see docs/forward-auth.md)")
		return
	}
	user := currentUser(c)
	var subj *access.Subject
	groupNames := ""
	if user != nil {
		var err error
		if groupNames, err = h.groupNamesOf(c, user); err != nil {
			h.dbError(c, "read groups", err)
			return
		}
		subj = &access.Subject{Username: user.Username, Groups: splitGroupNames(groupNames)}
	}
	rules := h.cfg.AccessRules.Rules()
	d := rules.Decide(access.Request{Host: o.host, Path: o.uri, Method: o.method}, subj)
	policy := d.Policy.String()
	switch {
	case d.Policy == access.Bypass:
		h.cfg.Metrics.ForwardDecision(d.Rule, policy, "allow")
		// Empty identity headers, not none: Caddy 2.6's copy_headers
		// otherwise hands the app its placeholder text
		// ("{http.reverse_proxy.header.Remote-User}") as the value.
		hd := c.Writer.Header()
		for _, k := range identityHeaders {
			hd[k] = []string{""}
		}
		c.Status(http.StatusOK)
	case d.Policy == access.Deny:
		h.cfg.Metrics.ForwardDecision(d.Rule, policy, "deny")
		if user != nil {
			h.note(c, user, d.Rule, models.EventForwardDenied, "refused "+o.host)
		}
		h.deny(c, user, o)
	case user == nil:
		h.cfg.Metrics.ForwardDecision(d.Rule, policy, "login")
		h.toGatehouse(c, nginx, route.URL(route.Login), o, http.StatusUnauthorized)
	case d.Policy == access.TwoFactor && !auth.IsSecondFactor(session(c).AuthMethod):
		has, err := h.accounts.HasSecondFactor(c.Request.Context(), user.ID)
		if err != nil {
			h.dbError(c, "read second factors", err)
			return
		}
		to, decision := route.URL(route.Reauth), "second_factor"
		if !has {
			to, decision = route.URL(route.TwoFactor), "setup_second_factor"
		}
		h.cfg.Metrics.ForwardDecision(d.Rule, policy, decision)
		h.note(c, user, d.Rule, models.EventForwardStepUp, decision+" for "+o.host)
		h.toGatehouse(c, nginx, to, o, http.StatusUnauthorized)
	default:
		h.cfg.Metrics.ForwardDecision(d.Rule, policy, "allow")
		// The header names are canonical already; one array backs the
		// four values (one allocation, not four).
		hd := c.Writer.Header()
		v := &[4]string{user.Username, user.Email, user.Username, groupNames}
		hd["Remote-User"], hd["Remote-Email"], hd["Remote-Name"], hd["Remote-Groups"] = v[0:1:1], v[1:2:2], v[2:3:3], v[3:4:4]
		c.Status(http.StatusOK)
	}
}

// groupNamesOf returns the signed-in user's group names joined by commas:
// the session lookup read them in its own statement (no second round
// trip); NamesOf reads them for a session adopted during the request.
func (h *forwardAuth) groupNamesOf(c *gin.Context, user *models.SessionUser) (string, error) {
	if st := session(c); st.GroupsRead && st.User == user {
		return st.GroupNames, nil
	}
	groups, err := h.groups.NamesOf(c.Request.Context(), user.ID)
	return strings.Join(groups, ","), err
}

// splitGroupNames splits a comma-joined list of group names (no name
// holds a comma: models.ValidateGroupName).
func splitGroupNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// identityHeaders are the headers an allowed answer carries.
var identityHeaders = []string{"Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups"}

// absolute is path on Gatehouse's own host.
func (h *forwardAuth) absolute(path string) string { return h.cfg.BaseURL + path }

// wantsJSON reports a client asking for JSON rather than a page.
func wantsJSON(c *gin.Context) bool {
	a := c.GetHeader("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// toGatehouse sends the visitor to a Gatehouse page with next = the
// original URL: 302 for Caddy and Traefik, 401 with the Location for nginx
// (which turns any other status into a 500) and for JSON clients.
func (h *forwardAuth) toGatehouse(c *gin.Context, nginx bool, path string, o original, jsonStatus int) {
	to := h.absolute(path) + "?next=" + url.QueryEscape(o.url())
	c.Header("Location", to)
	switch {
	case wantsJSON(c):
		h.json(c, jsonStatus, map[string]string{"error": "authentication required", "location": to})
	case nginx:
		h.plain(c, http.StatusUnauthorized, "authentication required")
	default:
		c.Status(http.StatusFound)
	}
}

// deny answers 403: a page saying who is signed in and offering to switch
// accounts, or JSON for API clients. Its Location names the same page on
// Gatehouse's host (/auth/denied/), for proxies that show their own error
// pages instead of this body (nginx: error_page 403 =302 $location).
func (h *forwardAuth) deny(c *gin.Context, user *models.SessionUser, o original) {
	sw := h.absolute(route.URL(route.ForwardDenied)) + "?next=" + url.QueryEscape(o.url())
	c.Header("Location", sw)
	if wantsJSON(c) {
		h.json(c, http.StatusForbidden, map[string]string{"error": "forbidden"})
		return
	}
	if user == nil {
		h.plain(c, http.StatusForbidden, tr(c, i18n.Message{ID: "forward.plain_denied", Other: "You may not enter this site."}))
		return
	}
	// The page's bar shows who is signed in; no flashes are taken (a
	// forward-auth check never writes the session).
	p := components.Page{Title: tr(c, i18n.Message{ID: "forward.title", Other: "You may not enter"}), User: &components.CurrentUser{Username: user.Username, IsStaff: user.IsStaff}}
	h.render(c, http.StatusForbidden, components.ForwardDeniedPage(p, components.ForwardDenied{Username: user.Username, Host: o.host, Switch: sw}))
}

func (h *forwardAuth) plain(c *gin.Context, status int, msg string) {
	c.Data(status, "text/plain; charset=utf-8", []byte(msg+"\n"))
}

func (h *forwardAuth) json(c *gin.Context, status int, v any) {
	b, _ := json.Marshal(v)
	c.Data(status, "application/json", b)
}

// deniedPage is GET /auth/denied/ on Gatehouse's host: who is signed in,
// which site refused them, and a button that signs out and leads to the
// login page with next = that site.
func (h *forwardAuth) deniedPage(c *gin.Context) {
	user := currentUser(c)
	next := c.Query("next")
	if !h.nextOK(next) {
		next = ""
	}
	if user == nil {
		to := route.URL(route.Login)
		if next != "" {
			to += "?next=" + url.QueryEscape(next)
		}
		h.redirect(c, to)
		return
	}
	host := ""
	if u, err := url.Parse(next); err == nil && next != "" {
		host = u.Host
	}
	after := route.URL(route.Login)
	if next != "" {
		after += "?next=" + url.QueryEscape(next)
	}
	h.render(c, http.StatusForbidden, components.ForwardDeniedPage(h.page(c, tr(c, i18n.Message{ID: "forward.title", Other: "You may not enter"})),
		components.ForwardDenied{Username: user.Username, Host: host, Next: after}))
}

// forwardEventEvery is how often one (user, rule) pair may add a denial or
// step-up event.
const forwardEventEvery = 10 * time.Minute

// note records a forward-auth event for user and rule, unless one was
// recorded within forwardEventEvery. Recording fails quietly (logged): the
// answer to the proxy does not depend on it.
func (h *forwardAuth) note(c *gin.Context, user *models.SessionUser, rule int, kind models.EventKind, detail string) {
	if !h.noted.allow(user.ID, rule, kind, time.Now()) {
		return
	}
	if rule >= 0 {
		detail += " (rule " + strconv.Itoa(rule+1) + ")"
	} else {
		detail += " (default policy)"
	}
	if err := h.events.Record(c.Request.Context(), models.UserEvent(kind, user, nil, detail)); err != nil {
		h.log.Warn("record forward-auth event", "err", err)
		return
	}
	h.cfg.Metrics.SecurityEvent(models.EventMetricLabel(kind))
}

// eventGate lets one event per key through per interval; it holds at most
// max keys (when full, it forgets them all: a flood of distinct keys then
// costs a burst of events, not memory).
type eventGate struct {
	mu    sync.Mutex
	every time.Duration
	max   int
	last  map[gateKey]time.Time
}

type gateKey struct {
	user uint
	rule int
	kind models.EventKind
}

func newEventGate(every time.Duration, max int) *eventGate {
	return &eventGate{every: every, max: max, last: map[gateKey]time.Time{}}
}

func (g *eventGate) allow(user uint, rule int, kind models.EventKind, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := gateKey{user, rule, kind}
	if t, ok := g.last[k]; ok && now.Sub(t) < g.every {
		return false
	}
	if len(g.last) >= g.max {
		clear(g.last)
	}
	g.last[k] = now
	return true
}
