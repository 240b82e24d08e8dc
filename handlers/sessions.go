package handlers

// Your sessions (/accounts/sessions/): every signed-in session of the user
// with its browser and system (parsed from the User-Agent), address,
// sign-in time and last request; one can be revoked (htmx removes its row;
// without JavaScript the form posts and the page comes back) or all but
// this one. Sessions are named by their public ID only
// (models.SessionPublicID); the flows check ownership in their
// transaction, so another user's ID revokes nothing.

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/models"
)

func (h *accountPages) sessionsPage(c *gin.Context) {
	rows, ok := h.sessionRows(c)
	if !ok {
		return
	}
	h.render(c, http.StatusOK, components.SessionsPage(h.page(c, tr(c, i18n.Message{ID: "title.your_sessions", Other: "Your sessions"})), rows))
}

// sessionRows lists the user's sessions for the page.
func (h *accountPages) sessionRows(c *gin.Context) ([]components.SessionRow, bool) {
	list, err := h.accounts.OwnSessions(c.Request.Context(), currentUser(c).ID, session(c).ID)
	if err != nil {
		h.dbError(c, "list own sessions", err)
		return nil, false
	}
	rows := make([]components.SessionRow, 0, len(list))
	for _, s := range list {
		b, sys := models.DescribeAgent(s.UserAgent)
		row := components.SessionRow{
			PublicID: s.PublicID, Browser: components.AgentWord(c.Request.Context(), b), System: components.AgentWord(c.Request.Context(), sys), IP: s.IP,
			SignedInAt: s.CreatedAt, LastSeen: s.LastSeenAt, Current: s.Current, Remembered: s.Persistent,
			Method: s.AuthMethod, Provider: h.providerName(s.AuthMethod),
		}
		rows = append(rows, row)
	}
	return rows, true
}

// providerName is the display name of the other provider a session's
// auth_method names as its first step ("" when none, or no longer
// configured).
func (h *Handler) providerName(method string) string {
	first, _, _ := strings.Cut(method, "+")
	if p := h.providers.ByMethod(first); p != nil {
		return p.Config.Name
	}
	return ""
}

// sessionRevokeSubmit ends one of the user's other sessions and says
// which browser was signed out: htmx gets the list again with the notice
// (swapped in place); a plain form comes back to the page with a message.
func (h *accountPages) sessionRevokeSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	// The browser's name for the message, read before it goes.
	before, ok := h.sessionRows(c)
	if !ok {
		return
	}
	what := "The session"
	for _, r := range before {
		if r.PublicID == c.Param("sid") && !r.Current {
			what = r.Browser + " on " + r.System
		}
	}
	ok, err := h.accounts.RevokeOwnSession(c.Request.Context(), currentUser(c), session(c).ID, c.Param("sid"))
	if err != nil {
		h.dbError(c, "revoke own session", err)
		return
	}
	msg := "Signed out " + what + "."
	if !ok {
		msg = "That session had already ended (to end this one, sign out)."
	}
	if isHTMX(c) {
		rows, rowsOK := h.sessionRows(c)
		if !rowsOK || !h.saveSession(c) {
			return
		}
		h.render(c, http.StatusOK, components.SessionsCard(rows, msg))
		return
	}
	if ok {
		h.flash(c, "success", "%s", msg)
	} else {
		h.flash(c, "info", "%s", msg)
	}
	h.redirect(c, components.SessionsPath)
}

// sessionsRevokeOthersSubmit signs the user out everywhere but here.
func (h *accountPages) sessionsRevokeOthersSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	n, err := h.accounts.RevokeOtherSessions(c.Request.Context(), currentUser(c), session(c).ID)
	if err != nil {
		h.dbError(c, "revoke other sessions", err)
		return
	}
	h.flash(c, "success", "%s", locale.N(c.Request.Context(), i18n.Message{ID: "flash.signed_out_others", One: "Signed out of {{.Count}} other session.", Other: "Signed out of {{.Count}} other sessions."}, int(n)))
	h.redirect(c, components.SessionsPath)
}
