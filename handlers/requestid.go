package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"unsafe"

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
	return newRequestIDHeader()[0]
}

// requestIDHeader holds a generated ID and the header value that carries
// it in one allocation: the ID's bytes, and a one-element slice whose
// string points at them.
type requestIDHeader struct {
	val [1]string
	buf [32]byte
}

// newRequestIDHeader returns a new request ID (newRequestID) as an
// X-Request-ID header value, in one allocation.
func newRequestIDHeader() []string {
	v := new(requestIDHeader)
	copy(v.buf[:16], requestIDPrefix)
	var num [16]byte
	n := strconv.AppendUint(num[:0], requestIDCounter.Add(1), 16)
	for i := range 16 - len(n) {
		v.buf[16+i] = '0'
	}
	copy(v.buf[32-len(n):], n)
	// The bytes are never written again once the string points at them.
	v.val[0] = unsafe.String(&v.buf[0], len(v.buf))
	return v.val[:]
}

// maxRequestIDLen bounds an incoming X-Request-ID we are willing to reuse.
const maxRequestIDLen = 64

// setRequestID gives the request an ID: the incoming X-Request-ID when a
// proxy set a short, plain one (so its logs and ours line up), else a new
// one (newRequestID). It is returned as X-Request-ID and logged with the
// request; requestContext puts it in the context of the requests that
// reach the app's handlers (see requestID).
func setRequestID(c *gin.Context) string {
	val := requestIDValue(c.Request.Header)
	c.Writer.Header()["X-Request-Id"] = val
	return val[0]
}

// requestIDValue is the X-Request-ID header value of a request with
// headers in (setRequestID).
func requestIDValue(in http.Header) []string {
	// The canonical key itself: Header.Get would canonicalize
	// "X-Request-ID" into a new string on every request.
	if v := in["X-Request-Id"]; len(v) > 0 && safeRequestID(v[0]) {
		// The request's own value, shared: len == cap, so Header.Add on
		// either side copies instead of writing into the other.
		return v[:1:1]
	}
	return newRequestIDHeader()
}

// requestID returns the ID setRequestID gave the request.
func requestID(c *gin.Context) string {
	if v := c.Writer.Header()["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
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
	switch id := ctx.Value(requestIDCtxKey{}).(type) {
	case string:
		return id
	case *string: // the request scope's
		return *id
	}
	return ""
}

// WithRequestID returns ctx carrying a request ID, as the app's requests do.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDCtxKey{}, id)
}
