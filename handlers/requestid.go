package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/gin-gonic/gin"
)

// requestIDKey is where the request's ID is kept, in the Gin context and
// the request's context.
const requestIDKey = "gatehouse.request_id"

type requestIDCtxKey struct{}

// maxRequestIDLen bounds an incoming X-Request-ID we are willing to reuse.
const maxRequestIDLen = 64

// setRequestID gives the request an ID: the incoming X-Request-ID when a
// proxy set a short, plain one (so its logs and ours line up), else a new
// random one. It is returned as X-Request-ID and logged with the request.
func setRequestID(c *gin.Context) string {
	id := c.GetHeader("X-Request-ID")
	if !safeRequestID(id) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(requestIDKey, id)
	c.Request = c.Request.WithContext(WithRequestID(c.Request.Context(), id))
	c.Header("X-Request-ID", id)
	return id
}

// safeRequestID accepts 1 to 64 letters, digits and ._:- only: nothing that
// could forge a log field, a header or a line.
func safeRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
			ch == '.' || ch == '_' || ch == ':' || ch == '-') {
			return false
		}
	}
	return true
}

// RequestID returns the ID of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying a request ID, as the app's requests do.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDCtxKey{}, id)
}
