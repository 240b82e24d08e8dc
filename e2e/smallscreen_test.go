package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/oidcop"
)

// phoneWidth is the CSS width of a small phone (iPhone SE, many Androids).
const phoneWidth = 375

// pageVisits maps every GET route pattern of the app to the URL the
// small-screen check opens for it ("" skips it, with the reason in
// skipped). A pattern missing here fails the test, so a new page is
// checked as soon as it has a route. {user} is a user with sessions and
// events, so the admin's tables have rows.
var pageVisits = map[string]string{
	"/":                                        "/",
	"/accounts/login/":                         loginPath,
	"/accounts/signup/":                        signupPath,
	"/accounts/profile/":                       profilePath,
	"/accounts/password_change/":               passwordChangePath,
	"/accounts/password_change/done/":          "/accounts/password_change/done/",
	"/accounts/password_reset/":                passwordResetPath,
	"/accounts/password_reset/done/":           passwordResetDonePath,
	"/accounts/reset/set-password/":            resetSetPasswordPath,
	"/accounts/reset/done/":                    resetDonePath,
	"/accounts/reset/:token/":                  "/accounts/reset/not-a-valid-token/",
	"/admin/":                                  "/admin/",
	"/admin/users/":                            adminUsersPath,
	"/admin/users/add/":                        adminUsersPath + "add/",
	"/admin/users/:id/":                        adminUsersPath + "{user}/",
	"/admin/users/:id/password/":               adminUsersPath + "{user}/password/",
	"/admin/users/:id/delete/":                 adminUsersPath + "{user}/delete/",
	"/admin/events/":                           "/admin/events/",
	"/admin/users/:id/2fa/":                    adminUsersPath + "{user}/2fa/",
	"/accounts/2fa/":                           "/accounts/2fa/",
	"/accounts/2fa/authenticate/":              "/accounts/2fa/authenticate/",
	"/accounts/2fa/recovery-codes/":            "/accounts/2fa/recovery-codes/",
	"/accounts/2fa/totp/activate/":             "/accounts/2fa/totp/activate/",
	"/accounts/2fa/webauthn/":                  "/accounts/2fa/webauthn/",
	"/accounts/2fa/webauthn/login/options/":    "", // JSON for the passkey script, not a page
	"/accounts/activity/":                      "/accounts/activity/",
	"/accounts/confirm-email/:token/":          "/accounts/confirm-email/not-a-valid-token/",
	"/accounts/delete/":                        "/accounts/delete/",
	"/accounts/deleted/":                       "/accounts/deleted/",
	"/accounts/email/":                         "/accounts/email/",
	"/accounts/reauthenticate/":                "/accounts/reauthenticate/",
	"/accounts/sessions/":                      "/accounts/sessions/",
	"/accounts/3rdparty/":                      "/accounts/3rdparty/",
	"/accounts/3rdparty/signup/":               "/accounts/3rdparty/signup/", // no sign-up waiting: the error page
	"/accounts/oidc/:provider/login/":          "/accounts/oidc/corp/login/",
	"/accounts/oidc/:provider/login/callback/": "/accounts/oidc/corp/login/callback/?state=x&code=y",
	"/accounts/github/login/":                  "/accounts/github/login/",
	"/accounts/github/login/callback/":         "/accounts/github/login/callback/?error=access_denied",
	"/admin/groups/":                           "/admin/groups/",
	"/admin/groups/:gid/":                      "/admin/groups/{group}/",
	"/admin/access/":                           "/admin/access/?host=app.example.com&path=/x&username=alice",
	"/auth/denied/":                            "/auth/denied/?next=/",
	"/auth/forward":                            "", // answers reverse proxies, not people
	"/auth/request":                            "", // answers reverse proxies, not people
	"/accounts/apps/":                          "/accounts/apps/",
	"/accounts/logged-out/":                    "/accounts/logged-out/",
	"/admin/oidc-clients/":                     "/admin/oidc-clients/",
	"/admin/oidc-clients/add/":                 "/admin/oidc-clients/add/",
	"/admin/oidc-clients/:client/":             "/admin/oidc-clients/{client}/",
	"/oidc/continue/":                          "/oidc/continue/?id=not-a-request",
	"/oidc/end_session/":                       "/oidc/end_session/",
	"/oidc/authorize/":                         "", // redirects to the login page or answers the client; no page of its own
	"/oidc/userinfo/":                          "", // JSON for apps
	"/oidc/keys/":                              "", // JSON for apps
	"/.well-known/openid-configuration":        "", // JSON for apps
	"/healthz":                                 "",
	"/readyz":                                  "",
	"/assets/*file":                            "",
	"/no/such/page/ (the 404 page)":            "/no/such/page/",
	"/admin/users/?q=… (a long query)":         adminUsersPath + "?q=" + strings.Repeat("w", 80) + "&active=yes&sort=-date_joined",
}

// Every page fits a phone: at 375 CSS pixels the document never scrolls
// sideways, signed out, signed in and as staff. Wide content (tables, long
// names and addresses) must wrap or scroll inside its own box.
func TestBrowserEveryPageFitsAPhone(t *testing.T) {
	t.Parallel()
	// Providers whose pages need no network: the login page shows their
	// buttons; their callbacks answer the error page.
	a := newApp(t, withUnreachableProviders())
	// Long unbroken names and addresses are what a phone meets in the admin.
	long := strings.Repeat("x", 60)
	subject := a.createUser(t, "wide_"+long, "someone."+long+"@example.com", userPassword)
	for i := range 3 {
		a.createUser(t, fmt.Sprintf("user%d_%s", i, long), fmt.Sprintf("u%d.%s@example.com", i, long), userPassword)
	}
	a.createUser(t, "alice", "alice@example.com", userPassword)
	a.createSuperuser(t, "root", "root@example.com", adminPassword)
	// Sessions and events for the subject: the admin user page's tables.
	signInOverHTTP(t, a, subject.Username, userPassword)
	signInOverHTTP(t, a, subject.Username, "wrong password")
	ops, err := a.accounts.GroupAddByCommand(t.Context(), "operations-"+long, []string{subject.Username, "alice"})
	// An app with a long name and redirect URI: the admin's client pages.
	clientID, _, err := oidcop.AddClient(context.Background(), a.db, oidcop.CommandLine, oidcop.NewClient{Name: "Wide " + long[:40],
		RedirectURIs: []string{"https://" + long + ".example.com/" + long + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}

	h := a.handler
	routes := h.PagePatterns()
	var urls []string
	for _, pattern := range routes {
		u, ok := pageVisits[pattern]
		if !ok {
			t.Errorf("GET %s has no entry in pageVisits: add the URL to open for it, so it is checked on a phone", pattern)
			continue
		}
		if u != "" {
			urls = append(urls, u)
		}
	}
	for k, u := range pageVisits {
		if strings.Contains(k, " ") {
			urls = append(urls, u) // extra visits, not routes
			continue
		}
		if !contains(routes, k) {
			t.Errorf("pageVisits has %s, which is no longer a GET route: remove it", k)
		}
	}

	viewers := []struct{ name, username, password string }{
		{"signed out", "", ""},
		{"signed in", "alice", userPassword},
		{"staff", "root", adminPassword},
	}
	for _, v := range viewers {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			b := newTab(t, a)
			b.do("emulate a phone", chromedp.EmulateViewport(phoneWidth, 740, chromedp.EmulateMobile))
			// Pages a viewer may not see answer 403/404/400 by design.
			for _, s := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest} {
				b.expectStatus(s)
			}
			if v.username != "" {
				b.loginAs(v.username, v.password)
			}
			for _, u := range urls {
				u = strings.ReplaceAll(u, "{user}", fmt.Sprint(subject.ID))
				u = strings.ReplaceAll(u, "{group}", fmt.Sprint(ops.Group.ID))
				u = strings.ReplaceAll(u, "{client}", clientID)
				b.open(u)
				b.waitUntil("the page to load", "document.readyState === 'complete'")
				// A phone widens its layout viewport (and zooms out) to fit a
				// page that is too wide, so both must hold: the viewport
				// kept its width, and nothing scrolls sideways in it.
				got := eval[[]int](b, "[window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]")
				if got[0] > phoneWidth || got[1] > got[2] {
					t.Errorf("%s (shown: %s): viewport %d px, page %d px wide in %d; sticking out: %s",
						u, b.path(), got[0], got[1], got[2], eval[string](b, widestElements))
				}
			}
		})
	}
}

// widestElements names the elements that stick out of the viewport or
// whose content overflows them, for the failure message (375.5: phoneWidth plus rounding).
const widestElements = `[...document.querySelectorAll("body *")]
	.filter(el => el.getBoundingClientRect().right > 375.5 ||
		(getComputedStyle(el).overflowX === "visible" && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0))
	.slice(0, 5)
	.map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + String(el.className).split(" ").join(".") : "") +
		" (right edge " + Math.round(el.getBoundingClientRect().right) + ")")
	.join(", ") || "none found"`

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// signInOverHTTP posts the login form without a browser, leaving a session
// row (right password) or a failed-login event (wrong one).
func signInOverHTTP(t *testing.T, a *app, username, password string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(a.URL+loginPath, map[string][]string{"username": {username}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}
