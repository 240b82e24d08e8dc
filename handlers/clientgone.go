package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// statusClientClosedRequest is nginx's 499: the client left before the
// answer. It is what the request log (and the metrics) record for such a
// request; nobody receives it, and it is not a server error.
const statusClientClosedRequest = 499

// clientGone reports whether the request's client has gone: its context
// ended because it hung up or its body read timed out. If so it ends the
// request quietly (an INFO line, status 499, no body) and returns true.
// Whatever failed did so because of the client, not the server.
func (h *Handler) clientGone(c *gin.Context, op string, err error) bool {
	// Canceled is the client leaving; DeadlineExceeded is the server's own
	// deadline (requestContext), answered 503 like any database fault.
	if !errors.Is(c.Request.Context().Err(), context.Canceled) {
		return false
	}
	h.log.Info("client gone", "op", op, "route", c.FullPath(), "err", err)
	c.AbortWithStatus(statusClientClosedRequest)
	return true
}

// bodyReadError answers a request body that could not be read (the client
// hung up mid-body, or sent it slower than the server's read timeout): 400
// to a client still listening, an INFO line, no 500 and no ERROR.
func (h *Handler) bodyReadError(c *gin.Context, err error) {
	h.log.Info("request body not read", "route", c.FullPath(), "err", err)
	c.Data(http.StatusBadRequest, "text/plain; charset=utf-8", []byte("The request body could not be read.\n"))
	c.Abort()
}

// readErrRecorder remembers the first error reading a body gave other than
// io.EOF, so a failed read can be told from a malformed encoding (both come
// back from ParseForm as an error).
type readErrRecorder struct {
	io.ReadCloser
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}
