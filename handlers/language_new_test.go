package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// The pages of forward auth, groups and access rules, the OpenID provider
// and sign-in through other providers, in German, French and Spanish,
// show no text of the English catalogue (and in English they do: the check
// can fail), with <html lang> following; form errors and refusals too.
func TestNewPagesTranslated(t *testing.T) {
	en := englishCatalogue(t)
	m := startMockOIDC(t)
	ts := oidcServer(t, withProviders(corpProvider(m)), withRules(t, testRules))
	for _, lang := range []string{"en", "de", "fr", "es"} {
		t.Run(lang, func(t *testing.T) {
			check := func(what string, res *response, want int) {
				t.Helper()
				if res.StatusCode != want {
					t.Fatalf("%s: status %d, want %d\n%s", what, res.StatusCode, want, res.body)
				}
				if got := htmlLang(t, res); got != lang {
					t.Errorf("%s: <html lang=%q>", what, got)
				}
				left := englishLeft(t, lang, en, visibleText(res.doc(t)))
				if lang == "en" {
					if len(left) == 0 {
						t.Errorf("%s: no English catalogue text on the English page", what)
					}
					return
				}
				if len(left) > 0 {
					t.Errorf("%s (%d): English left on the %s page: %q", what, res.StatusCode, lang, left)
				}
			}
			// A visitor: the login page's provider buttons, the provider's
			// continue page and the page that sends the browser there, a
			// sign-up with nothing waiting, the signed-out page.
			v := withLanguage(ts.client(t), lang)
			check("login with providers", v.get(route.URL(route.Login)), http.StatusOK)
			check("provider continue", v.get(route.URL(route.SocialLogin, "corp")), http.StatusOK)
			check("provider redirect", v.postForm(route.URL(route.SocialLogin, "corp"), nil), http.StatusOK)
			check("social sign-up without a flow", v.get(route.URL(route.SocialSignup)), http.StatusBadRequest)
			check("signed out", v.get(route.URL(route.LoggedOut)), http.StatusOK)

			// A superuser: groups, the access rules and their tester, the
			// OpenID clients, a user's page with groups and identities.
			admin, _ := ts.createAdmin(t, "root-"+lang, true, true)
			withLanguage(admin, lang)
			target := ts.createUser(t, "target-"+lang, "target-"+lang+"@example.com", "correct-horse-battery")
			check("add group (empty name)", admin.postForm(route.URL(route.AdminGroups), url.Values{"name": {""}}), http.StatusUnprocessableEntity)
			res := admin.postForm(route.URL(route.AdminGroups), url.Values{"name": {"crew-" + lang}})
			wantStatus(t, res, http.StatusSeeOther)
			check("groups", admin.get(route.URL(route.AdminGroups)), http.StatusOK)
			var g models.Group
			if err := ts.db.Where("name = ?", "crew-"+lang).Take(&g).Error; err != nil {
				t.Fatal(err)
			}
			check("group", admin.get(route.URL(route.AdminGroup, g.ID)), http.StatusOK)
			check("user with groups", admin.get(route.URL(route.AdminUser, target.ID)), http.StatusOK)
			for _, q := range []string{"", "?host=app.example.test&path=/&username=" + target.Username,
				"?host=app.example.test&path=/", "?host=&path=x", "?host=app.example.test&username=nobody-here"} {
				check("access rules"+q, admin.get(route.URL(route.AdminAccessRules)+q), http.StatusOK)
			}
			check("OpenID clients", admin.get(route.URL(route.AdminOIDCClients)), http.StatusOK)
			check("add an app", admin.get(route.URL(route.AdminOIDCClientAdd)), http.StatusOK)
			check("add an app (bad)", admin.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {""}, "redirect_uris": {"nope"}}), http.StatusUnprocessableEntity)
			res = admin.postForm(route.URL(route.AdminOIDCClientAdd), url.Values{"name": {"Wiki " + lang}, "redirect_uris": {rpCallback}})
			check("app credentials", res, http.StatusOK)
			id := res.text(t, `[data-testid="oidc-client-id"]`)
			check("an app", admin.get(route.URL(route.AdminOIDCClient, id)), http.StatusOK)

			// A user: the consent page, the apps page, the sign-out
			// question, connected accounts, the forward-auth denial.
			r := ts.newRP(t, oidcop.NewClient{Name: "Notes " + lang, PostLogoutRedirectURIs: []string{"http://rp.test/bye"}},
				"openid", "profile", "email", "groups", "offline_access")
			u, _ := ts.signUpAndLogin(t, "una-"+lang, "correct horse battery")
			withLanguage(u, lang)
			res, cb := u.follow(r.authURL(r.newFlow()))
			if cb != nil {
				t.Fatal("no consent asked")
			}
			check("consent", res, http.StatusOK)
			tok, _ := r.signIn(u)
			check("apps", u.get(route.URL(route.Apps)), http.StatusOK)
			idt, _ := tok.Extra("id_token").(string)
			q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://rp.test/bye"}}
			check("end session", u.get(route.URL(route.OIDCEndSession)+"?"+q.Encode()), http.StatusOK)
			check("end session refused", u.get(route.URL(route.OIDCEndSession)+"?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://evil.test/"}}.Encode()), http.StatusBadRequest)
			check("connected accounts", u.get(route.URL(route.Connections)), http.StatusOK)
			check("profile with groups", u.get(route.URL(route.Profile)), http.StatusOK)
			check("forward denied", u.get(route.URL(route.ForwardDenied)+"?next="+url.QueryEscape("http://app.example.test/")), http.StatusForbidden)
			if m := locale.Missing(); len(m) > 0 {
				t.Errorf("messages missing from the catalogues: %q", m)
			}
		})
	}
}

// Every fixed English message the layers below produce for a form (the
// handlers' own, group names', OpenID clients') has a translation: a new
// one without would show in English on every page.
func TestFormErrorsKnown(t *testing.T) {
	var msgs []string
	for _, name := range []string{"", strings.Repeat("g", 151), " g", "a,b", "a\u200bb", "a\x01b"} {
		if msg := models.ValidateGroupName(name); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	bad := []oidcop.NewClient{
		{Name: ""},
		{Name: strings.Repeat("n", 101), RedirectURIs: []string{"https://a.example/cb"}},
		{Name: "a\x01b", RedirectURIs: []string{"https://a.example/cb"}},
		{Name: "x", RedirectURIs: []string{"nope"}},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb#f"}},
		{Name: "x", RedirectURIs: []string{"https:///cb"}},
		{Name: "x", RedirectURIs: []string{"com.example.app:/cb"}},
		{Name: "x", RedirectURIs: []string{"a*b:/cb"}, Public: true},
		{Name: "x", RedirectURIs: strings.Fields(strings.Repeat("https://a.example/cb ", 21))},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, AllowedGroups: []string{"a,b"}},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, IDTokenAlg: "HS256"},
	}
	for _, n := range bad {
		_, _, err := oidcop.AddClient(t.Context(), nil, oidcop.CommandLine, n)
		var ce *oidcop.ClientError
		if !errors.As(err, &ce) {
			t.Fatalf("%+v: got %v, want a ClientError", n, err)
		}
		for _, m := range ce.Fields {
			msgs = append(msgs, m)
		}
	}
	msgs = append(msgs, handlerFormErrors(t)...)
	if len(msgs) < 20 {
		t.Fatalf("only %d messages found", len(msgs))
	}
	for _, m := range msgs {
		if !components.KnownErrorText(m) {
			t.Errorf("no translation for %q (components/errortext.go)", m)
		}
	}
}

// addErrorRE finds the handlers' literal form errors.
var addErrorRE = regexp.MustCompile(`addError\(form, "[^"]*", ("(?:[^"\\]|\\.)*")\)`)

// handlerFormErrors are the literal messages the handlers add to forms,
// and the unconfirmed-address refusal.
func handlerFormErrors(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := []string{unverifiedLoginError}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range addErrorRE.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", f, m[1], err)
			}
			out = append(out, s)
		}
	}
	return out
}

// The mails of real flows reach a user who chose German in German, with
// no text of the English catalogue in subject, text or HTML: a second
// factor added (its whole sentence chosen from the payload's codes), a
// sign-in from a new browser (browser and system said in German), a
// recovery code used, a reset and the password-changed notice (the
// remaining factors counted in German). The same flows for an English
// reader show the English texts (the check can fail).
func TestMailsInRecipientsLanguage(t *testing.T) {
	en := englishCatalogue(t)
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			smtpSrv, withMail := withSMTP(t)
			ts := newTestServer(t, withMail, withSecretKey, func(c *Config) { c.NewDeviceNotice = true })
			u := ts.createUser(t, "greta", "greta@example.com", "correct-horse-battery")
			if err := ts.users.SetLanguage(t.Context(), u.ID, lang); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"de": {"Zwei-Faktor-Authentifizierung bei Gatehouse geändert", "Neue Anmeldung bei Ihrem Gatehouse-Konto",
					"Anmeldung bei Gatehouse mit einem Wiederherstellungscode", "Passwort auf Gatehouse zurücksetzen", "Ihr Gatehouse-Passwort wurde geändert"},
				"en": {"Two-factor authentication changed on Gatehouse", "New sign-in to your Gatehouse account",
					"A recovery code was used to sign in to Gatehouse", "Password reset on Gatehouse", "Your Gatehouse password was changed"},
			}[lang]
			// Requests in other languages: the saved choice decides.
			a := withLanguage(ts.client(t), "fr")
			a.login("greta", "correct-horse-battery")
			b := withLanguage(ts.clientFrom(t, "203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"), "es")
			b.login("greta", "correct-horse-battery")
			_, codes := activateTOTP(t, a)
			c := withLanguage(ts.client(t), "es")
			passwordStep(t, c, "greta", "correct-horse-battery", nil)
			wantRedirect(t, c.postForm(secondStepURL, url.Values{"code": {codes[0]}}), "/")
			r := withLanguage(ts.client(t), "fr")
			wantRedirect(t, r.postForm("/accounts/password_reset/", url.Values{"email": {"greta@example.com"}}), "/accounts/password_reset/done/")

			seen := map[string]string{}
			for len(seen) < len(want) {
				msg := smtpSrv.Next(t, 10*time.Second)
				seen[msg.Subject] = msg.Text
				if !strings.Contains(msg.HTML, `<html lang="`+lang+`">`) {
					t.Errorf("%q: HTML not in %s", msg.Subject, lang)
				}
				if msg.Subject == want[3] {
					res := r.get(resetPath(t, msg))
					wantRedirect(t, res, "/accounts/reset/set-password/")
					wantRedirect(t, r.postForm("/accounts/reset/set-password/", setValues("a brand new password", "a brand new password")), "/accounts/reset/done/")
				}
				checkMail(t, lang, en, msg.Subject, []string{msg.Subject, msg.Text, msg.HTML})
			}
			for _, s := range want {
				if _, ok := seen[s]; !ok {
					t.Errorf("no mail %q; got %v", s, seen)
				}
			}
			if lang == "de" {
				body := seen[want[4]]
				for _, w := range []string{"eine Authenticator-App", "9 Wiederherstellungscodes"} {
					if !strings.Contains(body, w) {
						t.Errorf("password-changed notice lacks %q:\n%s", w, body)
					}
				}
			}
		})
	}
}

var urlRE = regexp.MustCompile(`https?://\S+`)

// checkMail fails when parts (a mail's subject, text and HTML) hold text
// of the English catalogue in a mail for another language, or none in an
// English one.
func checkMail(t *testing.T, lang string, en map[string]string, subject string, parts []string) {
	t.Helper()
	var text []string
	for i, p := range parts {
		if i == 2 {
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(p))
			if err != nil {
				t.Fatal(err)
			}
			text = append(text, visibleText(doc)...)
			continue
		}
		text = append(text, p)
	}
	// Links are addresses, not text ("password_reset" is no English left).
	for i := range text {
		text[i] = urlRE.ReplaceAllString(text[i], "")
	}
	left := englishLeft(t, lang, en, text)
	switch {
	case lang == "en" && len(left) == 0:
		t.Errorf("%q: no English catalogue text in the English mail", subject)
	case lang != "en" && len(left) > 0:
		t.Errorf("%q: English left in the %s mail: %q\n%s", subject, lang, left, parts[1])
	}
}

// plainPath's fast path agrees with isLocalPath on every path it accepts.
func TestPlainPathIsLocal(t *testing.T) {
	for _, p := range []string{"/", "/accounts/login/", "/admin/users/12/", "/a-b_c/d.e/", "//evil.example/", "/\\evil", "/./x", "/../x",
		"/x/../y", "/A/", "/%2f%2fevil", "/x?y", "", "x", "/" + strings.Repeat("a", 300), "/é/", "/x//y", "/.well-known/x"} {
		if plainPath(p) && !isLocalPath(p) {
			t.Errorf("plainPath accepts %q, which isLocalPath refuses", p)
		}
	}
	for _, p := range []string{"/", "/accounts/login/", "/admin/users/12/", "/accounts/oidc/corp/login/"} {
		if !plainPath(p) {
			t.Errorf("plainPath refuses the common path %q", p)
		}
	}
}
