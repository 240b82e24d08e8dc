package handlers

import (
	"net/http"
	"sort"
)

// PagePatterns returns the path pattern of every GET route (":id"-style
// parameters left in), sorted, so tests that must visit every page (the
// browser suite's small-screen check) cover new pages without being told.
func (a *App) PagePatterns() []string {
	var out []string
	for _, r := range a.router().Routes() {
		if r.Method == http.MethodGet {
			out = append(out, r.Path)
		}
	}
	sort.Strings(out)
	return out
}
