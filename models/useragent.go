package models

import (
	"strings"
	"sync"

	"github.com/medama-io/go-useragent"
)

// uaParser is built once (it loads a trie of known agents).
var uaParser = sync.OnceValue(useragent.NewParser)

// DescribeAgent names the browser and system of a User-Agent for people,
// e.g. ("Firefox 133", "Linux"), with a maintained parser.
func DescribeAgent(ua string) (browser, system string) {
	if strings.TrimSpace(ua) == "" {
		return "Unknown browser", "unknown system"
	}
	a := uaParser().Parse(ua)
	browser = string(a.Browser())
	if browser == "" {
		browser = "Unknown browser"
		if a.IsBot() {
			browser = "Automated client"
		}
	} else if v := a.BrowserVersionMajor(); v != "" {
		browser += " " + v
	}
	system = string(a.OS())
	if system == "" {
		system = "unknown system"
	}
	if d := string(a.Device()); d != "" && d != "Desktop" {
		system += " (" + strings.ToLower(d) + ")"
	}
	return browser, system
}
