package handlers

// Your security activity (/accounts/activity/?page=N): the signed-in
// user's own security events, newest first, 20 a page.

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/models"
)

func (h *accountPages) activityPage(c *gin.Context) {
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
		what := models.EventWords(c.Request.Context(), e.Kind) // the one vocabulary (models/eventkinds.go)
		browser, system := models.DescribeAgent(e.UserAgent)
		v.Rows = append(v.Rows, components.ActivityRow{
			What: what, When: e.CreatedAt, IP: e.IP, Browser: components.BrowserOnSystem(c.Request.Context(), browser, system),
			Detail: models.EventDetail(c.Request.Context(), &e), ByStaff: e.ActorID != nil,
		})
	}
	h.render(c, http.StatusOK, components.ActivityPage(h.page(c, tr(c, i18n.Message{ID: "title.your_security_activity", Other: "Your security activity"})), v))
}
