package components

import "strconv"

func statusText(status int) string { return strconv.Itoa(status) }

func firstOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
