package components

import (
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

func pathFor(n route.Name, params ...any) string { return route.URL(n, params...) }
