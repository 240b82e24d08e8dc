package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	gsessions "github.com/gorilla/sessions"

	"gatehouse/internal/websession"
	"gatehouse/models"
)

// This file is the one accessor of the session: the only code (with the
// middleware that installs it, in routes.go) that touches
// gin-contrib/sessions. Everything else reads and changes the typed
// *models.SessionState it returns and calls touch, or adds and takes
// flashes here. The store (websession.SessionStore) turns the state into the
// row's columns and the cookie when the response is written (saveSession).

// stateKey caches the request's typed session in the Gin context.
const stateKey = "gatehouse.session"

// session returns the request's typed session, never nil. Requests without
// a session cookie get an empty state without any database work.
func session(c *gin.Context) *models.SessionState {
	if v, ok := c.Get(stateKey); ok {
		return v.(*models.SessionState)
	}
	st, _ := webSession(c).Get(websession.SessionStateKey).(*models.SessionState)
	if st == nil {
		st = &models.SessionState{} // store unavailable: loadUser has answered already
	}
	c.Set(stateKey, st)
	return st
}

// touchedKey marks a request that changed its session (it will be saved).
const touchedKey = "gatehouse.session_touched"

// touch marks the session changed, so the response saves it.
func touch(c *gin.Context) {
	c.Set(touchedKey, true)
	webSession(c).Set(websession.SessionStateKey, session(c))
}

// endSession ends the request's session (its row and cookie go when the
// response is saved) and drops its pending messages: whatever is said after
// this starts a fresh, short-lived session.
func endSession(c *gin.Context) {
	session(c).End()
	if s := webSession(c); s.Get("_flash") != nil {
		s.Flashes()
	}
	touch(c)
}

// loadSession loads the request's session through the store once, so a
// database failure is answered (503) instead of being swallowed by
// gin-contrib's wrapper as an empty session (which would sign the user out
// silently). Later calls get the same, cached session.
func (h *Handler) loadSession(c *gin.Context) error {
	_, err := h.store.Get(c.Request, h.store.CookieName())
	return err
}

// hasSessionCookie reports whether the request carries a session cookie.
func (h *Handler) hasSessionCookie(c *gin.Context) bool {
	_, err := c.Request.Cookie(h.store.CookieName())
	return err == nil
}

// flash queues a one-time message for the next page. A message alone never
// creates a server-side session: a visitor with no session row, whose
// request is not making one (no sign-in, no reset link), gets none, so no
// route lets anonymous requests fill the table (hardening, round three).
// The few messages worth a short-lived session of their own use
// flashVisitor.
func (h *Handler) flash(c *gin.Context, level, format string, args ...any) {
	h.flashLink(c, level, "", "", format, args...)
}

// flashLink is flash with a link after the message (a route of this
// site; none when link is ""), for messages that send people somewhere.
// It holds the rule for both: no message creates a visitor's session.
func (h *Handler) flashLink(c *gin.Context, level, link, linkText, format string, args ...any) {
	if session(c).ID == "" && !c.GetBool(touchedKey) {
		return
	}
	webSession(c).AddFlash(models.Flash{Level: level, Message: fmt.Sprintf(format, args...), Link: link, LinkText: linkText})
}

// flashVisitor queues a message even for a visitor without a session,
// creating a short-lived one: for outcomes a visitor reaches only through
// a limited or one-time step (a sign-up that must be confirmed first, an
// e-mail link confirmed in another browser).
func (h *Handler) flashVisitor(c *gin.Context, level, format string, args ...any) {
	webSession(c).AddFlash(models.Flash{Level: level, Message: fmt.Sprintf(format, args...)})
}

// takeFlashes returns and removes the pending flash messages. Without a
// session cookie there are none, and nothing is looked up.
func (h *Handler) takeFlashes(c *gin.Context) []models.Flash {
	if !h.hasSessionCookie(c) {
		return nil
	}
	s := webSession(c)
	if s.Get("_flash") == nil {
		return nil
	}
	var out []models.Flash
	for _, f := range s.Flashes() {
		if fl, ok := f.(models.Flash); ok {
			out = append(out, fl)
		}
	}
	return out
}

// sessionSaveFailedKey marks a request whose session could not be saved.
const sessionSaveFailedKey = "gatehouse.session_save_failed"

// saveSession writes the session if it changed. On failure it answers the
// request itself and returns false. The error page it answers with is not
// saved again: that would fail the same way and recurse until the stack
// overflows, killing the process (found by TestDatabaseReadOnly).
func (h *Handler) saveSession(c *gin.Context) bool {
	if c.GetBool(sessionSaveFailedKey) {
		return true
	}
	v := installedSession(c)
	if v == nil {
		return true
	}
	if err := v.Save(); err != nil {
		c.Set(sessionSaveFailedKey, true)
		h.dbError(c, "save session", err)
		return false
	}
	return true
}

// installSessions is the middleware that gives each request its session:
// gin-contrib's sessions.Sessions, or, behind requestContext, the same
// handle kept in the request's scope (requestSession), so a request that
// never touches its session (an anonymous page) costs no allocation.
func (h *Handler) installSessions() gin.HandlerFunc {
	name, store := h.store.CookieName(), ginStore{h.store}
	eager := sessions.Sessions(name, store)
	return func(c *gin.Context) {
		s, ok := c.Request.Context().(*requestScope)
		if !ok {
			eager(c)
			return
		}
		s.session = requestSession{name: name, request: c.Request, store: store, writer: c.Writer}
		c.Next()
	}
}

// webSession is the request's session handle (sessions.Default's, for
// either kind installSessions gives).
func webSession(c *gin.Context) sessions.Session {
	if s := installedSession(c); s != nil {
		return s
	}
	return sessions.Default(c) // panics, as it always did, with no session installed
}

// installedSession is the request's session handle, or nil.
func installedSession(c *gin.Context) sessions.Session {
	if s, _ := c.Request.Context().Value(requestScopeKey{}).(*requestScope); s != nil && s.session.store != nil {
		return &s.session
	}
	if v, ok := c.Get(sessions.DefaultKey); ok {
		return v.(sessions.Session)
	}
	return nil
}

// requestSession is gin-contrib's session handle (sessions.Sessions'
// unexported type, method for method), living in the request's scope:
// the session is loaded from the store on first use, and Save writes it
// only when something changed it. gin-contrib's middleware also clears the
// request's entry in gorilla/context's global map (a lock per request);
// gorilla/sessions no longer keeps anything there (its registry is in the
// request's context), and neither does anything else here.
type requestSession struct {
	name    string
	request *http.Request
	store   sessions.Store
	session *gsessions.Session
	written bool
	writer  http.ResponseWriter
}

var _ sessions.Session = (*requestSession)(nil)

func (s *requestSession) ID() string { return s.Session().ID }

func (s *requestSession) Get(key any) any { return s.Session().Values[key] }

func (s *requestSession) Set(key, val any) {
	s.Session().Values[key] = val
	s.written = true
}

func (s *requestSession) Delete(key any) {
	delete(s.Session().Values, key)
	s.written = true
}

func (s *requestSession) Clear() {
	for key := range s.Session().Values {
		s.Delete(key)
	}
}

func (s *requestSession) AddFlash(value any, vars ...string) {
	s.Session().AddFlash(value, vars...)
	s.written = true
}

func (s *requestSession) Flashes(vars ...string) []any {
	s.written = true
	return s.Session().Flashes(vars...)
}

func (s *requestSession) Options(options sessions.Options) {
	s.written = true
	s.Session().Options = options.ToGorillaOptions()
}

func (s *requestSession) Save() error {
	if !s.written {
		return nil
	}
	err := s.Session().Save(s.request, s.writer)
	if err == nil {
		s.written = false
	}
	return err
}

// Session loads the session on first use. A store error is logged as
// gin-contrib logs it (loadUser has answered the request with a 503 by
// then: loadSession reports it).
func (s *requestSession) Session() *gsessions.Session {
	if s.session == nil {
		var err error
		if s.session, err = s.store.Get(s.request, s.name); err != nil {
			slog.Error("[sessions] ERROR!", "err", err)
		}
	}
	return s.session
}

func (s *requestSession) Written() bool { return s.written }

// ginStore adapts the session store to gin-contrib's Store interface. The
// cookie's attributes are defences, not preferences, so Options changes
// nothing.
type ginStore struct{ *websession.SessionStore }

func (ginStore) Options(sessions.Options) {}
