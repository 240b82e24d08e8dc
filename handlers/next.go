package handlers

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNextLen bounds the ?next= value we are willing to carry around.
const maxNextLen = 2048

// safeNext returns next when it is a local path on this site, else fallback.
// Browsers are generous with what they treat as another host (//host, /\host,
// tabs and newlines stripped from URLs, percent-encoded slashes in some
// contexts), so only a plain absolute path with none of those passes.
func safeNext(next, fallback string) string {
	if isLocalPath(next) {
		return next
	}
	return fallback
}

func isLocalPath(next string) bool {
	if next == "" || len(next) > maxNextLen || !utf8.ValidString(next) {
		return false
	}
	if next[0] != '/' || strings.HasPrefix(next, "//") {
		return false
	}
	for _, r := range next {
		if r == '\\' || suspicious(r) {
			return false
		}
	}
	// Reject encoded forms of the same tricks: a path that decodes to
	// something starting with // or holding a backslash or control character.
	dec, err := url.PathUnescape(next)
	if err != nil {
		return false
	}
	if strings.HasPrefix(dec, "//") || strings.ContainsAny(dec, "\\") {
		return false
	}
	for _, r := range dec {
		if suspicious(r) {
			return false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//")
}

// suspicious reports runes that have no business in a redirect path and that
// browsers may strip or treat specially: controls, spaces, invisible format
// characters, and invalid UTF-8.
func suspicious(r rune) bool {
	return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// safeNext is safeNext with the site's cookie domain: besides a local
// path, an absolute URL on a host within SESSION_COOKIE_DOMAIN, with the
// site's scheme, is followed (a person coming back to an app behind
// forward auth). Anything else gives fallback.
func (h *Handler) safeNext(next, fallback string) string {
	if h.nextOK(next) {
		return next
	}
	return fallback
}

// nextOK reports whether next may be followed (see safeNext).
func (h *Handler) nextOK(next string) bool {
	return isLocalPath(next) || inCookieDomain(next, h.cfg.BaseURL, h.cfg.SessionCookieDomain)
}

// withNext is path with ?next=next (next already checked), or path alone:
// the pages between a protected app and a signed-in session (sign-up,
// reset, confirmation, second-factor set-up) pass on where to go.
func withNext(path, next string) string {
	if next == "" {
		return path
	}
	return path + "?next=" + url.QueryEscape(next)
}

// checkedNext is next when the site follows it, else "".
func (h *Handler) checkedNext(next string) string {
	if !h.nextOK(next) {
		return ""
	}
	return next
}

// validAuthority reports whether s is a host[:port] an absolute next (or
// a forward-auth request) may name, `^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`:
// letters, digits, dots and hyphens only, then optionally a colon and one
// to five digits. No user info, no percent-encoding, no backslash, no IP
// literal brackets: anything a browser could read as another host than we
// do is refused rather than interpreted. A loop, not that regular
// expression, because forward auth asks on every request
// (TestValidAuthorityIsTheRegexp holds the two equal).
func validAuthority(s string) bool {
	host, port, hasPort := strings.Cut(s, ":")
	if host == "" || hasPort && (port == "" || len(port) > 5) {
		return false
	}
	for i := range len(host) {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for i := range len(port) {
		if c := port[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// inCookieDomain reports whether next is an absolute URL with baseURL's
// scheme whose host is domain's apex or lies within it (domain as
// ".example.com"; "" allows nothing).
func inCookieDomain(next, baseURL, domain string) bool {
	if domain == "" || len(next) > maxNextLen || !utf8.ValidString(next) {
		return false
	}
	scheme, _, ok := strings.Cut(baseURL, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return false
	}
	rest, ok := strings.CutPrefix(next, scheme+"://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if !validAuthority(authority) {
		return false
	}
	host := strings.ToLower(authority)
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host != domain[1:] && !(strings.HasSuffix(host, domain) && len(host) > len(domain)) {
		return false
	}
	switch {
	case tail == "":
		return true
	case tail[0] == '/':
		return isLocalPath(tail)
	default:
		return isLocalPath("/" + tail)
	}
}
