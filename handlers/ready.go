package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
)

// readyTimeout bounds how long /readyz waits for a database check; a load
// balancer's probe should time out later than this.
const readyTimeout = 2 * time.Second

// readiness answers /readyz: 200 while the database can be read and written,
// 503 otherwise. /healthz, by contrast, says only that the process answers.
// A change of state is logged once, not on every probe.
type readiness struct {
	probe *models.Probe
	mu    sync.Mutex
	last  string // the error last logged, "" when ready
}

func (h *middleware) readyz(r *readiness) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
		defer cancel()
		err := r.probe.Check(ctx)
		r.logChange(h.Handler, err)
		if err != nil {
			c.String(http.StatusServiceUnavailable, "not ready: database unavailable")
			return
		}
		c.String(http.StatusOK, "ready")
	}
}

func (r *readiness) logChange(h *Handler, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	changed := msg != r.last
	r.last = msg
	r.mu.Unlock()
	switch {
	case !changed:
	case err == nil:
		h.log.Info("ready: database readable and writable again")
	case errors.Is(err, models.ErrCorrupt):
		h.log.Error("not ready: database corrupt or replaced; restore it from a backup", "err", err)
	default:
		h.log.Warn("not ready: database unavailable", "err", err)
	}
}
