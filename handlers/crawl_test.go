package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
)

// crawl follows links (a[href]) from "/" as client c, through the full
// stack, and returns every path some link points at. It never submits a
// form, so it never signs out or changes anything.
func crawl(t *testing.T, c *testClient) map[string]bool {
	t.Helper()
	linked := map[string]bool{"/": true}
	queue := []string{"/"}
	fetched := map[string]bool{}
	for len(queue) > 0 && len(fetched) < 500 {
		p := queue[0]
		queue = queue[1:]
		if fetched[p] {
			continue
		}
		fetched[p] = true
		res := c.get(p)
		if res.StatusCode >= 500 {
			t.Fatalf("GET %s: status %d", p, res.StatusCode)
		}
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			continue
		}
		res.doc(t).Find("a[href]").Each(func(_ int, a *goquery.Selection) {
			href, _ := a.Attr("href")
			u, err := url.Parse(href)
			if err != nil || (u.Host != "" && "http://"+u.Host != c.ts.URL) || !strings.HasPrefix(u.Path, "/") ||
				strings.HasPrefix(u.Path, "/static/") {
				return
			}
			linked[u.Path] = true
			// Query strings (filters, pages) are followed once per path
			// with their query, so a filtered list's links count too.
			next := u.Path
			if u.RawQuery != "" {
				next += "?" + u.RawQuery
			}
			if !fetched[next] && len(fetched)+len(queue) < 500 {
				queue = append(queue, next)
			}
		})
	}
	return linked
}

// patternRegexp matches the paths of a route pattern (":param" is one
// segment).
func patternRegexp(p string) *regexp.Regexp {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = `[^/]+`
		} else {
			segs[i] = regexp.QuoteMeta(s)
		}
	}
	return regexp.MustCompile("^" + strings.Join(segs, "/") + "$")
}

// TestEveryPageIsReachedByLinks (issue 31): as a guest, a plain user and a
// superuser, every page of the route table that the visitor may open
// (GET answers 200, parameters filled from real rows) is reached by
// following links from "/" alone, unless the table marks it as reached by
// a form, a mailed link, a redirect of a flow, a script or a probe.
func TestEveryPageIsReachedByLinks(t *testing.T) {
	ts := newTestServer(t, withSecretKey)
	_, target := ts.signUpAndLogin(t, "target", "correct horse battery")
	admin, adminUser := ts.createAdmin(t, "root", true, true)
	user, _ := ts.signUpAndLogin(t, "plain", "correct horse battery")
	// With an authenticator the recovery-codes page opens too.
	withTOTP, _ := ts.signUpAndLogin(t, "twofactor", "correct horse battery")
	activateTOTP(t, withTOTP)
	guest := ts.client(t)
	_ = adminUser
	group, err := ts.app.Accounts().GroupAddByCommand(t.Context(), "crawl", []string{"target"})
	// A registered app: the admin's client page has a row.
	clientID, _, err := oidcop.AddClient(t.Context(), ts.db, oidcop.CommandLine, oidcop.NewClient{Name: "Wiki", RedirectURIs: []string{"https://wiki.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}

	// A parameter for each pattern, from real rows.
	fill := func(n route.Name) (string, bool) {
		p := route.Pattern(n)
		switch {
		case !strings.Contains(p, ":"):
			return p, true
		case strings.Count(p, ":") == 1 && strings.Contains(p, ":id"):
			return route.URL(n, target.ID), true
		case strings.Count(p, ":") == 1 && strings.Contains(p, ":gid"):
			return route.URL(n, group.Group.ID), true
		case strings.Count(p, ":") == 1 && strings.Contains(p, ":client"):
			return route.URL(n, clientID), true
		}
		return "", false
	}

	guestLinked := crawl(t, guest)
	for _, tc := range []struct {
		who string
		c   *testClient
	}{{"guest", guest}, {"user", user}, {"user with an authenticator", withTOTP}, {"superuser", admin}} {
		t.Run(tc.who, func(t *testing.T) {
			linked := crawl(t, tc.c)
			if tc.c != guest {
				// A page open to guests that the guests' crawl reaches is
				// reached (the reset form is for people signed out).
				for l := range guestLinked {
					if res := guest.get(l); res.StatusCode == http.StatusOK {
						linked[l] = true
					}
				}
			}
			var missing []string
			checked := 0
			for _, n := range route.Names() {
				if route.ReachedBy(n) != route.Link {
					continue
				}
				p, ok := fill(n)
				if !ok {
					t.Errorf("%s: the crawl test cannot fill the pattern %q: teach fill", n, route.Pattern(n))
					continue
				}
				// Only pages this visitor may open (no redirect, no 403).
				if res := tc.c.get(p); res.StatusCode != http.StatusOK {
					continue
				}
				checked++
				re := patternRegexp(route.Pattern(n))
				found := false
				for l := range linked {
					if re.MatchString(l) {
						found = true
						break
					}
				}
				if !found {
					missing = append(missing, string(n)+" "+route.Pattern(n))
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("as %s, no link from / reaches %d of %d pages:\n  %s", tc.who, len(missing), checked, strings.Join(missing, "\n  "))
			}
			if checked < 3 {
				t.Fatalf("as %s only %d pages were checked: the test is broken", tc.who, checked)
			}
			t.Logf("as %s: %d pages, all reached by links (%d paths linked)", tc.who, checked, len(linked))
		})
	}
}
