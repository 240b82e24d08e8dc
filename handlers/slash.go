package handlers

import (
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// slashRedirect replaces Gin's RedirectTrailingSlash, which builds the
// Location from the client's X-Forwarded-Prefix header (a request with
// "X-Forwarded-Prefix: /" was sent to the protocol-relative //admin/users/,
// off the site) and answers before any middleware has set the security
// headers. This one runs in NoRoute, behind the global middleware, and
// redirects only to the request's own path with one slash added or
// removed, and only when that path is a route for the request's method.
// GET and HEAD get 301; other methods 308, which keeps method and body.
func (h *middleware) slashRedirect(r *gin.Engine) gin.HandlerFunc {
	routes := sync.OnceValue(func() []gin.RouteInfo { return r.Routes() })
	return func(c *gin.Context) {
		// Routes match the decoded path (as in Gin); the Location keeps
		// the path as sent. Both must end the same way.
		path, p := c.Request.URL.Path, c.Request.URL.EscapedPath()
		if path == "/" || strings.HasSuffix(path, "/") != strings.HasSuffix(p, "/") {
			c.Next()
			return
		}
		alt, want := toggleSlash(p), toggleSlash(path)
		// A local path only: never "//host" or "/\\host", which browsers
		// read as another site.
		if !strings.HasPrefix(alt, "/") || strings.HasPrefix(alt, "//") || strings.HasPrefix(alt, "/\\") ||
			!routeExists(routes(), c.Request.Method, want) {
			c.Next()
			return
		}
		loc := alt
		if q := c.Request.URL.RawQuery; q != "" {
			loc += "?" + q
		}
		code := http.StatusPermanentRedirect
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		c.Header("Location", loc)
		c.Status(code)
		c.Abort()
	}
}

// toggleSlash adds a trailing slash to p or removes the one it has.
func toggleSlash(p string) string {
	if t := strings.TrimSuffix(p, "/"); t != p {
		return t
	}
	return p + "/"
}

// routeExists reports whether a route for method matches path.
func routeExists(routes []gin.RouteInfo, method, path string) bool {
	for _, ri := range routes {
		if ri.Method == method && matchPattern(ri.Path, path) {
			return true
		}
	}
	return false
}

// matchPattern matches a Gin route pattern (":name" one non-empty segment,
// "*name" the rest) against a path.
func matchPattern(pattern, path string) bool {
	for {
		i := strings.IndexAny(pattern, ":*")
		if i < 0 {
			return pattern == path
		}
		if !strings.HasPrefix(path, pattern[:i]) {
			return false
		}
		pattern, path = pattern[i:], path[i:]
		if pattern[0] == '*' {
			return true
		}
		// ":name" up to the next slash in both.
		pe := strings.IndexByte(pattern, '/')
		se := strings.IndexByte(path, '/')
		if se == 0 {
			return false // empty segment
		}
		if pe < 0 {
			return se < 0 && path != ""
		}
		if se < 0 {
			return false
		}
		pattern, path = pattern[pe:], path[se:]
	}
}
