package handlers

// The device cookie (OWASP): a long-lived random value identifying this
// browser to the accounts signed in from it; only its hash is stored
// (models.KnownDevice). A login from a browser the account does not know
// mails a notice. The cookie is set only after a successful login, so
// visitors who are not signed in still get no cookie.

import (
	"gatehouse/auth"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// deviceCookieLife is how long a browser is remembered.
const deviceCookieLife = 365 * 24 * time.Hour

func (h *Handler) deviceCookieName() string {
	if h.secure() {
		return "__Host-device"
	}
	return "device"
}

// deviceToken returns the browser's device cookie, or a new value to set
// (rememberDevice) when it has none or a malformed one.
func (h *Handler) deviceToken(c *gin.Context) string {
	if ck, err := c.Request.Cookie(h.deviceCookieName()); err == nil && auth.DeviceCookieValid(ck.Value) {
		return ck.Value
	}
	token, err := auth.NewDeviceToken()
	if err != nil {
		return ""
	}
	return token
}

// loginDevice is the device cookie a sign-in (any method) reports to the
// new-device check, "" when NEW_DEVICE_NOTICE is off.
func (h *Handler) loginDevice(c *gin.Context) string {
	if !h.cfg.NewDeviceNotice {
		return ""
	}
	return h.deviceToken(c)
}

// rememberDevice sets (or renews) the device cookie after a login.
func (h *Handler) rememberDevice(c *gin.Context, token string) {
	if token == "" {
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.deviceCookieName(), Value: token, Path: "/", MaxAge: int(deviceCookieLife / time.Second),
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
}
