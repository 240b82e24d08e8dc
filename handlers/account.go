package handlers

// The account area (issue 13): the hub at /accounts/profile/ and the pages
// it links to. Each page shows components.AccountNav; the flows behind
// them are auth.Accounts methods, one transaction each.

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/models"
)

// profilePage is the account hub.
func (h *accountPages) profilePage(c *gin.Context) {
	u := currentUser(c)
	s, err := h.accounts.MFAStatus(c.Request.Context(), u.ID)
	if err != nil {
		h.dbError(c, "load factors", err)
		return
	}
	groups, err := models.NewGroups(h.users.DB()).NamesOf(c.Request.Context(), u.ID)
	if err != nil {
		h.dbError(c, "load groups", err)
		return
	}
	h.render(c, http.StatusOK, components.ProfilePage(h.page(c, tr(c, i18n.Message{ID: "title.your_account", Other: "Your account"})), components.Profile{
		Groups: groups, Username: u.Username, Email: u.Email, DateJoined: u.DateJoined, LastLogin: u.LastLogin,
		EmailVerified: u.EmailVerified, Verification: h.cfg.EmailVerification,
		TwoFactor: components.ProfileFactors{Available: h.accounts.MFAAvailable(), TOTP: s.TOTP,
			Passkeys: len(s.Passkeys), RecoveryLeft: s.RecoveryLeft},
	}))
}
