package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/PuerkitoBio/goquery"

	"gatehouse/internal/locale"
)

// withLanguage makes every request of c carry an Accept-Language header.
func withLanguage(c *testClient, header string) *testClient {
	c.http.Transport = headerTransport{base: http.DefaultTransport, set: map[string]string{"Accept-Language": header}}
	return c
}

func htmlLang(t *testing.T, res *response) string {
	t.Helper()
	lang, _ := res.doc(t).Find("html").Attr("lang")
	return lang
}

// The language of a page: the signed-in user's saved choice, else the
// visitor's cookie, else Accept-Language (q-values, de-AT → de), else
// LANGUAGE_CODE. <html lang> follows, and pages vary on Accept-Language.
func TestLanguageNegotiation(t *testing.T) {
	ts := newTestServer(t)
	tsFR := newTestServer(t, func(c *Config) { c.LanguageCode = "fr" })
	cases := []struct {
		name   string
		server *testServer
		accept string
		cookie string
		want   string
		title  string // the login page's heading
	}{
		{"nothing", ts, "", "", "en", "Sign in"},
		{"LANGUAGE_CODE", tsFR, "", "", "fr", "Se connecter"},
		{"LANGUAGE_CODE loses to Accept-Language", tsFR, "es", "", "es", "Iniciar sesión"},
		{"exact", ts, "de", "", "de", "Anmelden"},
		{"region falls back to the language", ts, "de-AT", "", "de", "Anmelden"},
		{"q-values order", ts, "en;q=0.3, fr-CA;q=0.9, de;q=0.5", "", "fr", "Se connecter"},
		{"first acceptable", ts, "ja, it;q=0.9, es;q=0.1", "", "es", "Iniciar sesión"},
		{"q=0 is refused", ts, "de;q=0, es;q=0.2", "", "es", "Iniciar sesión"},
		{"none shipped", ts, "ja, zh-CN", "", "en", "Sign in"},
		{"garbage", ts, "@@@;q=x,,,", "", "en", "Sign in"},
		{"huge", ts, strings.Repeat("de-DE-x-aaaaaaaa,", 400), "", "en", "Sign in"},
		{"cookie beats Accept-Language", ts, "de", "es", "es", "Iniciar sesión"},
		{"unknown cookie is ignored", ts, "de", "xx", "de", "Anmelden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.server.client(t)
			if tc.accept != "" {
				withLanguage(c, tc.accept)
			}
			if tc.cookie != "" {
				c.setCookie(languageCookie, tc.cookie)
			}
			res := c.get("/accounts/login/")
			wantStatus(t, res, http.StatusOK)
			if got := htmlLang(t, res); got != tc.want {
				t.Fatalf("<html lang=%q>, want %q", got, tc.want)
			}
			if got := res.text(t, "h1"); got != tc.title {
				t.Fatalf("heading %q, want %q", got, tc.title)
			}
			if v := res.Header.Get("Vary"); !strings.Contains(v, "Accept-Language") {
				t.Fatalf("Vary %q lacks Accept-Language", v)
			}
			// The prerendered copy of each language is what rendering gives.
			again := c.get("/accounts/login/")
			if again.body != res.body {
				t.Fatal("a second plain login page differs from the first")
			}
		})
	}

	// A signed-in user's saved language beats cookie and header, and
	// follows them to another browser.
	c, u := ts.signUpAndLogin(t, "ulrike", "correct-horse-battery")
	if err := ts.users.SetLanguage(context.Background(), u.ID, "de"); err != nil {
		t.Fatal(err)
	}
	withLanguage(c, "fr")
	c.setCookie(languageCookie, "es")
	res := c.get("/accounts/profile/")
	wantStatus(t, res, http.StatusOK)
	if got := htmlLang(t, res); got != "de" {
		t.Fatalf("signed-in user with saved de: <html lang=%q>", got)
	}
}

// POST /i18n/setlang/ sets the visitor's cookie (nothing server-side) or
// the signed-in user's column, and goes back to next only when it is a
// local path; an unknown language is a 400, not a 500.
func TestSetLanguage(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	res := c.postForm("/i18n/setlang/", url.Values{"language": {"de"}, "next": {"/accounts/signup/?x=1"}})
	wantRedirect(t, res, "/accounts/signup/?x=1")
	if got := c.cookie(languageCookie); got != "de" {
		t.Fatalf("language cookie %q", got)
	}
	if c.sessionCookie() != "" {
		t.Fatal("a visitor's language choice created a session")
	}
	page := c.get("/accounts/signup/")
	if got := htmlLang(t, page); got != "de" {
		t.Fatalf("after setlang: <html lang=%q>", got)
	}
	if got := page.text(t, "h1"); got != "Registrieren" {
		t.Fatalf("heading %q", got)
	}

	for _, next := range []string{
		"", "//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
		"javascript:alert(1)", "/%2F%2Fevil.example", "/%5Cevil.example", "http:/evil.example",
		"/\t/evil.example", " /x", "/x\r\nSet-Cookie: a=b", strings.Repeat("/a", 3000), "/\x00", "data:text/html,hi",
	} {
		res := c.postForm("/i18n/setlang/", url.Values{"language": {"fr"}, "next": {next}})
		wantRedirect(t, res, "/")
	}
	for _, bad := range []string{"", "xx", "de-AT", "DE", "en;q=1", strings.Repeat("d", 5000), "\xff"} {
		res := c.postForm("/i18n/setlang/", url.Values{"language": {bad}, "next": {"/"}})
		wantStatus(t, res, http.StatusBadRequest)
		if got := htmlLang(t, res); got != "fr" {
			t.Fatalf("error page for %q in %q", bad, got)
		}
	}
	// A cross-site POST is refused like every other.
	req := c.newRequest(http.MethodPost, "/i18n/setlang/", strings.NewReader("language=es&next=/"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, c.do(req), http.StatusForbidden)
	if got := c.cookie(languageCookie); got != "fr" {
		t.Fatalf("cross-site setlang changed the cookie to %q", got)
	}

	// Signed in: the choice is saved on the account.
	uc, u := ts.signUpAndLogin(t, "sofia", "correct-horse-battery")
	res = uc.postForm("/i18n/setlang/", url.Values{"language": {"es"}, "next": {"/accounts/profile/"}})
	wantRedirect(t, res, "/accounts/profile/")
	got, err := ts.users.ByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Language != "es" {
		t.Fatalf("saved language %q", got.Language)
	}
	other := ts.client(t) // another browser: no cookie, German header
	withLanguage(other, "de")
	other.login("sofia", "correct-horse-battery")
	if lang := htmlLang(t, other.get("/accounts/profile/")); lang != "es" {
		t.Fatalf("the saved language did not follow the user: %q", lang)
	}
}

// englishCatalogue returns the English catalogue's texts without
// placeholders, by message ID.
var placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}`)

func englishCatalogue(t *testing.T) map[string]string {
	t.Helper()
	raw := map[string]any{}
	if _, err := toml.DecodeFile(filepath.Join("..", "internal", "locale", "locales", "active.en.toml"), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, v := range raw {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case map[string]any:
			s, _ = v["other"].(string)
		}
		if s == "" || strings.HasPrefix(id, "date.") {
			continue
		}
		if !strings.Contains(s, "{{") {
			out[id] = s
			continue
		}
		// A message with placeholders: its literal pieces of two words or
		// more ("Taking you to", "was changed on") are English too.
		for i, piece := range placeholderRE.Split(s, -1) {
			piece = strings.Trim(piece, " ,.:;!?()“”«»—–-…")
			if len(piece) >= 8 && strings.Contains(piece, " ") {
				out[id+"#"+strconv.Itoa(i)] = piece
			}
		}
	}
	return out
}

// visibleText is what a reader sees or hears of a page: its text (scripts
// and styles aside) and the title, alt, placeholder and aria-label
// attributes, one string per node.
func visibleText(doc *goquery.Document) []string {
	var out []string
	doc.Find("script, style").Remove()
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"title", "alt", "placeholder", "aria-label", "data-label"} {
			if v, ok := s.Attr(a); ok {
				out = append(out, v)
			}
		}
	})
	doc.Find("title, body").Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.Text())
	})
	return out
}

// englishLeft lists the English catalogue texts found in text, where the
// language's own text differs (so "Passkeys", the same word in German, is
// not counted).
func englishLeft(t *testing.T, lang string, en map[string]string, text []string) []string {
	t.Helper()
	l := locale.For(lang)
	joined := strings.Join(text, "\n")
	var left []string
	own := ownTexts(t, lang)
	for id, s := range en {
		if l.TranslationOf(id) == s || len(s) < 3 || !strings.Contains(joined, s) {
			continue
		}
		// A word both languages have ("active" in "Aucune session
		// active.") is no English left.
		if !strings.Contains(s, " ") && wholeWords(s).MatchString(own) {
			continue
		}
		if wholeWords(s).MatchString(joined) {
			left = append(left, id+"="+s)
		}
	}
	sort.Strings(left)
	return left
}

var ownTextCache sync.Map // language → its catalogue's texts, joined

// ownTexts is every text of lang's catalogue, joined by newlines.
func ownTexts(t *testing.T, lang string) string {
	t.Helper()
	if s, ok := ownTextCache.Load(lang); ok {
		return s.(string)
	}
	raw := map[string]any{}
	if _, err := toml.DecodeFile(filepath.Join("..", "internal", "locale", "locales", "active."+lang+".toml"), &raw); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range raw {
		if m, ok := v.(map[string]any); ok {
			for k, f := range m {
				if k != "hash" && k != "description" {
					b.WriteString(fmt.Sprint(f) + "\n")
				}
			}
		}
	}
	ownTextCache.Store(lang, b.String())
	return b.String()
}

var wordPatterns sync.Map // string → *regexp.Regexp

// wholeWords matches s not inside a longer word ("Detail" is not in
// "Details").
func wholeWords(s string) *regexp.Regexp {
	if re, ok := wordPatterns.Load(s); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(`(^|[^\pL\pN])` + regexp.QuoteMeta(s) + `($|[^\pL\pN])`)
	wordPatterns.Store(s, re)
	return re
}

// Every page, in German, French and Spanish, shows no text of the English
// catalogue: a string not wrapped for translation, or a translation
// missing, shows up here. The same pages in English must show English
// (the check can fail).
func TestEveryPageTranslated(t *testing.T) {
	en := englishCatalogue(t)
	ts := newTestServer(t)
	tsK := newTestServer(t, withSecretKey) // two-factor pages
	admin, _ := ts.createAdmin(t, "root", true, true)
	tsK.createUser(t, "mia", "mia@example.com", "correct-horse-battery")
	mfaPages := []string{
		"/accounts/2fa/", "/accounts/2fa/totp/activate/", "/accounts/2fa/webauthn/",
		"/accounts/reauthenticate/",
	}
	target := ts.createUser(t, "target", "target@example.com", "correct-horse-battery")
	visitorPages := []string{
		"/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/accounts/password_reset/done/",
		"/accounts/reset/bad-token/", "/no/such/page/",
	}
	userPages := []string{
		"/", "/accounts/profile/", "/accounts/sessions/", "/accounts/activity/", "/accounts/password_change/",
		"/accounts/email/", "/accounts/delete/", "/accounts/2fa/",
		"/admin/", "/admin/users/", "/admin/users/add/", "/admin/events/",
		"/admin/users/" + itoa(target.ID) + "/", "/admin/users/" + itoa(target.ID) + "/password/",
		"/admin/users/" + itoa(target.ID) + "/delete/",
	}
	// Failures with messages: a bad login, a bad signup, a 413.
	forms := []struct {
		path string
		v    url.Values
	}{
		{"/accounts/login/", url.Values{"username": {"nobody"}, "password": {"wrong"}}},
		{"/accounts/signup/", url.Values{"username": {"bad name!"}, "email": {"nope"}, "password1": {"123"}, "password2": {"456"}}},
	}
	for _, lang := range []string{"en", "de", "fr", "es"} {
		t.Run(lang, func(t *testing.T) {
			check := func(path string, res *response) {
				t.Helper()
				if got := htmlLang(t, res); got != lang && !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
					t.Errorf("%s: <html lang=%q>", path, got)
				}
				left := englishLeft(t, lang, en, visibleText(res.doc(t)))
				if lang == "en" {
					if len(left) == 0 {
						t.Errorf("%s: no English catalogue text found on the English page", path)
					}
					return
				}
				if len(left) > 0 {
					t.Errorf("%s (%d): English left on the %s page: %q", path, res.StatusCode, lang, left)
				}
			}
			v := withLanguage(ts.client(t), lang)
			for _, p := range visitorPages {
				check(p, v.get(p))
			}
			for _, f := range forms {
				check(f.path+" (POST)", v.postForm(f.path, f.v))
			}
			// htmx fragments: a failed login, live validation.
			frag := v.htmxPost("/accounts/login/", url.Values{"username": {"nobody"}, "password": {"wrong"}})
			if left := englishLeft(t, lang, en, visibleText(frag.doc(t))); lang != "en" && len(left) > 0 {
				t.Errorf("login fragment: English left: %q", left)
			}
			frag = v.htmxPost("/accounts/signup/validate/password1/", url.Values{"username": {"zed"}, "password1": {"123"}})
			if left := englishLeft(t, lang, en, visibleText(frag.doc(t))); lang != "en" && len(left) > 0 {
				t.Errorf("live validation fragment: English left: %q", left)
			} else if lang == "en" && len(left) == 0 {
				t.Errorf("live validation fragment in English shows no catalogue text: %s", frag.body)
			}
			m := withLanguage(tsK.client(t), lang)
			m.login("mia", "correct-horse-battery")
			for _, p := range mfaPages {
				res := m.get(p)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", p, res.StatusCode)
				}
				check(p, res)
			}
			withLanguage(admin, lang)
			for _, p := range userPages {
				res := admin.get(p)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", p, res.StatusCode)
				}
				check(p, res)
			}
			// Every message these pages asked for was in the catalogue
			// (one the extractor missed would be shown in English).
			if m := locale.Missing(); len(m) > 0 {
				t.Errorf("messages missing from the catalogues: %q", m)
			}
		})
	}
}

// A password-reset e-mail speaks the recipient's saved language, else the
// language of the request that asked for it (kept through the worker's
// job); subject, text and HTML alike.
func TestResetEmailInRecipientsLanguage(t *testing.T) {
	smtpSrv, withMail := withSMTP(t)
	ts := newTestServer(t, withMail)
	ts.createUser(t, "hans", "hans@example.com", "correct-horse-battery")
	saved := ts.createUser(t, "lucia", "lucia@example.com", "correct-horse-battery")
	if err := ts.users.SetLanguage(context.Background(), saved.ID, "es"); err != nil {
		t.Fatal(err)
	}

	// No saved language: the request's (German).
	c := withLanguage(ts.client(t), "de-DE,de;q=0.9")
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"hans@example.com"}}), "/accounts/password_reset/done/")
	msg := smtpSrv.Next(t, 5*time.Second)
	if msg.Subject != "Passwort auf Gatehouse zurücksetzen" {
		t.Errorf("subject %q", msg.Subject)
	}
	for _, want := range []string{"Hallo hans,", "1 Stunde", "Ihr Benutzername"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("German text part lacks %q: %q", want, msg.Text)
		}
	}
	if !strings.Contains(msg.HTML, `<html lang="de">`) || !strings.Contains(msg.HTML, "Ihr Benutzername, falls Sie ihn vergessen haben: <strong>hans</strong>") {
		t.Errorf("German HTML part: %q", msg.HTML)
	}
	if strings.Contains(msg.Text, "Hello") || strings.Contains(msg.HTML, "Hello") {
		t.Error("English left in the German mail")
	}

	// A saved language beats the request's.
	wantRedirect(t, c.postForm("/accounts/password_reset/", url.Values{"email": {"lucia@example.com"}}), "/accounts/password_reset/done/")
	msg = smtpSrv.Next(t, 5*time.Second)
	if msg.Subject != "Restablecer la contraseña en Gatehouse" || !strings.Contains(msg.Text, "Hola, lucia:") || !strings.Contains(msg.HTML, `<html lang="es">`) {
		t.Errorf("Spanish mail: %q\n%s", msg.Subject, msg.Text)
	}
}
