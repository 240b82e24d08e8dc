package handlers

import (
	"fmt"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

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
	st, _ := sessions.Default(c).Get(websession.SessionStateKey).(*models.SessionState)
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
	sessions.Default(c).Set(websession.SessionStateKey, session(c))
}

// endSession ends the request's session (its row and cookie go when the
// response is saved) and drops its pending messages: whatever is said after
// this starts a fresh, short-lived session.
func endSession(c *gin.Context) {
	session(c).End()
	if s := sessions.Default(c); s.Get("_flash") != nil {
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
	sessions.Default(c).AddFlash(models.Flash{Level: level, Message: fmt.Sprintf(format, args...), Link: link, LinkText: linkText})
}

// flashVisitor queues a message even for a visitor without a session,
// creating a short-lived one: for outcomes a visitor reaches only through
// a limited or one-time step (a sign-up that must be confirmed first, an
// e-mail link confirmed in another browser).
func (h *Handler) flashVisitor(c *gin.Context, level, format string, args ...any) {
	sessions.Default(c).AddFlash(models.Flash{Level: level, Message: fmt.Sprintf(format, args...)})
}

// takeFlashes returns and removes the pending flash messages. Without a
// session cookie there are none, and nothing is looked up.
func (h *Handler) takeFlashes(c *gin.Context) []models.Flash {
	if !h.hasSessionCookie(c) {
		return nil
	}
	s := sessions.Default(c)
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
	v, ok := c.Get(sessions.DefaultKey)
	if !ok {
		return true
	}
	if err := v.(sessions.Session).Save(); err != nil {
		c.Set(sessionSaveFailedKey, true)
		h.dbError(c, "save session", err)
		return false
	}
	return true
}

// installSessions is the middleware that gives each request its session.
func (h *Handler) installSessions() gin.HandlerFunc {
	return sessions.Sessions(h.store.CookieName(), ginStore{h.store})
}

// ginStore adapts the session store to gin-contrib's Store interface. The
// cookie's attributes are defences, not preferences, so Options changes
// nothing.
type ginStore struct{ *websession.SessionStore }

func (ginStore) Options(sessions.Options) {}
