package handlers

import "github.com/gin-gonic/gin"

// warnUntrustedForwarding logs, once per process, that requests arrive with
// X-Forwarded-For while no proxy is trusted: Gatehouse is probably behind a
// proxy, every client then shares the proxy's address, and the per-address
// limits lock everyone out together. The header is not believed either way.
func (h *middleware) warnUntrustedForwarding(c *gin.Context) {
	if len(h.cfg.TrustedProxies) > 0 || h.xffWarned.Load() || len(c.Request.Header["X-Forwarded-For"]) == 0 {
		return
	}
	if h.xffWarned.CompareAndSwap(false, true) {
		h.log.Warn("request with X-Forwarded-For but TRUSTED_PROXIES is unset: the header is ignored and the proxy's address is taken as the client's; set TRUSTED_PROXIES to the proxy's addresses",
			"peer", c.RemoteIP(), "check", "gatehouse.W004")
	}
}
