package handlers

// Your security activity (/accounts/activity/?page=N): the signed-in
// user's own security events, newest first, 20 a page.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/models"
)

// activityNames are the events in words; others show their kind.
var activityNames = map[models.EventKind]string{
	models.EventLoginSucceeded:          "Signed in",
	models.EventLoginFailed:             "Failed sign-in attempt",
	models.EventLoginThrottled:          "Sign-ins blocked after too many attempts",
	models.EventLogout:                  "Signed out",
	models.EventSignup:                  "Account created",
	models.EventPasswordChanged:         "Password changed",
	models.EventResetRequested:          "Password reset requested",
	models.EventResetCompleted:          "Password reset",
	models.EventSessionRevoked:          "Sessions signed out",
	models.EventPasswordChangeFailed:    "Wrong current password on the password form",
	models.EventPasswordChangeThrottled: "Password attempts blocked",
	models.EventReauthenticated:         "Password confirmed for a sensitive action",
	models.EventReauthFailed:            "Wrong password when confirming a sensitive action",
	models.EventReauthThrottled:         "Password confirmations blocked",
	models.EventReauthFactorFailed:      "Wrong code or failed passkey when confirming a sensitive action",
	models.EventEmailChangeRequested:    "E-mail change requested",
	models.EventEmailChanged:            "E-mail address changed",
	models.EventEmailVerified:           "E-mail address confirmed",
	models.EventPasswordSet:             "Password set by staff",
	models.EventPrivilegesChanged:       "Privileges changed",
	models.EventUserDeactivated:         "Account deactivated",
	models.EventAdminAction:             "Changed by staff",
	models.EventAccountDeleteFailed:     "Wrong password on the delete-account form",
	models.EventNewDevice:               "Signed in from a new browser",
}

func (h *Handler) activityPage(c *gin.Context) {
	page, err := strconv.Atoi(c.Query("page"))
	if err != nil || page < 1 {
		page = 1
	}
	rows, more, err := h.events.OwnActivity(c.Request.Context(), currentUser(c).ID, page)
	if err != nil {
		h.dbError(c, "list own activity", err)
		return
	}
	v := components.ActivityView{Page: page, HasNewer: page > 1, HasOlder: more}
	for _, e := range rows {
		what, ok := activityNames[e.Kind]
		if !ok {
			what = strings.ReplaceAll(string(e.Kind), "_", " ")
		}
		browser, system := models.DescribeAgent(e.UserAgent)
		v.Rows = append(v.Rows, components.ActivityRow{
			What: what, When: e.CreatedAt, IP: e.IP, Browser: browser + " on " + system,
			Detail: e.Detail, ByStaff: e.ActorID != nil,
		})
	}
	h.render(c, http.StatusOK, components.ActivityPage(h.page(c, "Your security activity"), v))
}
