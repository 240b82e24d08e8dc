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
