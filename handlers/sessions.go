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

	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/models"
)

func (h *accountPages) sessionsPage(c *gin.Context) {
	u := currentUser(c)
	list, err := h.accounts.OwnSessions(c.Request.Context(), u.ID, session(c).ID)
	if err != nil {
		h.dbError(c, "list own sessions", err)
		return
	}
	rows := make([]components.SessionRow, 0, len(list))
	for _, s := range list {
		b, sys := models.DescribeAgent(s.UserAgent)
		rows = append(rows, components.SessionRow{
			PublicID: s.PublicID, Browser: b, System: sys, IP: s.IP,
			SignedInAt: s.CreatedAt, LastSeen: s.LastSeenAt, Current: s.Current, Remembered: s.Persistent,
		})
	}
	h.render(c, http.StatusOK, components.SessionsPage(h.page(c, "Your sessions"), rows))
}

// sessionRevokeSubmit ends one of the user's other sessions. htmx gets an
// empty 200 (the row's form swaps its row away); a plain form comes back
// to the page with a message.
func (h *accountPages) sessionRevokeSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	ok, err := h.accounts.RevokeOwnSession(c.Request.Context(), currentUser(c), session(c).ID, c.Param("sid"))
	if err != nil {
		h.dbError(c, "revoke own session", err)
		return
	}
	if isHTMX(c) && ok {
		if !h.saveSession(c) {
			return
		}
		c.Status(http.StatusOK)
		return
	}
	if ok {
		h.flash(c, "success", "The session was signed out.")
	} else {
		h.flash(c, "info", "That session had already ended (to end this one, sign out).")
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
	h.flash(c, "success", "Signed out of %d other %s.", n, map[bool]string{true: "session", false: "sessions"}[n == 1])
	h.redirect(c, components.SessionsPath)
}
