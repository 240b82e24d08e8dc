package handlers

// The account area (issue 13): the hub at /accounts/profile/ and the pages
// it links to. Each page shows components.AccountNav; the flows behind
// them are auth.Accounts methods, one transaction each.

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
)

// profilePage is the account hub.
func (h *accountPages) profilePage(c *gin.Context) {
	h.renderProfile(c, http.StatusOK, "", "")
}

// renderProfile shows the hub; zone and zoneErr are a refused time zone
// and why.
func (h *accountPages) renderProfile(c *gin.Context, status int, zone, zoneErr string) {
	// The hub shows the dates, which the session lookup does not read.
	u, ok := h.currentUserRow(c)
	if !ok {
		return
	}
	s, err := h.accounts.MFAStatus(c.Request.Context(), u.ID)
	if err != nil {
		h.dbError(c, "load factors", err)
		return
	}
	groups, err := h.groups.NamesOf(c.Request.Context(), u.ID)
	if err != nil {
		h.dbError(c, "load groups", err)
		return
	}
	if zoneErr == "" {
		zone = u.TimeZone
	}
	h.render(c, status, components.ProfilePage(h.page(c, tr(c, i18n.Message{ID: "title.your_account", Other: "Your account"})), components.Profile{
		Language: u.Language, TimeZone: zone, TimeZoneError: zoneErr,
		Groups: groups, Username: u.Username, Email: u.Email, DateJoined: u.DateJoined, LastLogin: u.LastLogin,
		EmailVerified: u.EmailVerified, Verification: h.cfg.EmailVerification,
		TwoFactor: components.ProfileFactors{Available: h.accounts.MFAAvailable(), TOTP: s.TOTP,
			Passkeys: len(s.Passkeys), RecoveryLeft: s.RecoveryLeft},
	}))
}

// maxTimeZoneForm is the most of a time-zone field read (IANA names are
// short; locale.ValidZone allows 64).
const maxTimeZoneForm = 64

// timeZoneSubmit saves the zone the account's dates are shown in: an IANA
// name (checked with time.LoadLocation), or empty for UTC. A bad one is
// answered 422 on the hub with the reason.
func (h *accountPages) timeZoneSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	zone := strings.TrimSpace(c.PostForm("time_zone"))
	if zone == "UTC" {
		zone = ""
	}
	if zone != "" && (len(zone) > maxTimeZoneForm || !locale.ValidZone(zone)) {
		shown := zone
		if len(shown) > maxTimeZoneForm {
			shown = shown[:maxTimeZoneForm]
		}
		h.renderProfile(c, http.StatusUnprocessableEntity, strings.ToValidUTF8(shown, ""),
			tr(c, i18n.Message{ID: "profile.time_zone_unknown", Other: "Enter a time zone name such as Europe/Berlin or America/New_York (or leave it empty for UTC)."}))
		return
	}
	u := currentUser(c)
	if err := h.users.SetTimeZone(c.Request.Context(), u.ID, zone); err != nil {
		h.dbError(c, "set time zone", err)
		return
	}
	shown := zone
	if shown == "" {
		shown = "UTC"
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.time_zone_saved", Other: "Dates are now shown in {{.Zone}} time."}, map[string]any{"Zone": shown}))
	h.redirect(c, route.URL(route.Profile))
}
