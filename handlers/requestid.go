package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/gin-gonic/gin"
)

// requestIDCtxKey is where the request's ID is kept in the request's
// context.
type requestIDCtxKey struct{}

// A new request ID is this process's random prefix and a counter: unique
// across instances and restarts (the prefix is 64 random bits drawn at
// start) without a call into the kernel's random source per request.
var (
	requestIDPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestIDCounter atomic.Uint64
)

// newRequestID returns the next request ID of this process: 32 hex
// digits, the prefix's 16 and the counter's 16.
func newRequestID() string {
	var buf [32]byte
	copy(buf[:16], requestIDPrefix)
	var num [16]byte
	n := strconv.AppendUint(num[:0], requestIDCounter.Add(1), 16)
	for i := range 16 - len(n) {
		buf[16+i] = '0'
	}
	copy(buf[32-len(n):], n)
	return string(buf[:])
}

// maxRequestIDLen bounds an incoming X-Request-ID we are willing to reuse.
const maxRequestIDLen = 64

// setRequestID gives the request an ID: the incoming X-Request-ID when a
// proxy set a short, plain one (so its logs and ours line up), else a new
// one (newRequestID). It is returned as X-Request-ID and logged with the request.
func setRequestID(c *gin.Context) string {
	id := c.GetHeader("X-Request-ID")
	if !safeRequestID(id) {
		id = newRequestID()
	}
	c.Request = c.Request.WithContext(WithRequestID(c.Request.Context(), id))
	c.Writer.Header()["X-Request-Id"] = []string{id}
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
