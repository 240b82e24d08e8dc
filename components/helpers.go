package components

import (
	"net/url"
	"strconv"

	"github.com/a-h/templ"

	"gatehouse/internal/route"
)

func statusText(status int) string { return strconv.Itoa(status) }

func firstOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// urlFor is route n's URL for an href or action (templ's URL attributes
// take a SafeURL); pathFor the same as a plain string, for hx-post and
// data attributes. Both come from the route table (internal/route).
func urlFor(n route.Name, params ...any) templ.SafeURL { return templ.SafeURL(route.URL(n, params...)) }

// withNext is path with ?next=next (next already checked by the handler),
// or path alone: the pages between a protected app and a signed-in
// session pass on where to go.
func withNext(path, next string) templ.SafeURL {
	if next == "" {
		return templ.SafeURL(path)
	}
	return templ.SafeURL(path + "?next=" + url.QueryEscape(next))
}

func pathFor(n route.Name, params ...any) string { return route.URL(n, params...) }
