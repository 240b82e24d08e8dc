package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/internal/route"
	"gatehouse/models"
)

// androidPhone is a phone's User-Agent: DescribeAgent says "Android
// (mobile)".
const androidPhone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"

// phoneSystem is androidPhone's system as each language writes it (French
// says mobile too).
var phoneSystem = map[string]string{"en": "Android (mobile)", "de": "Android (Mobilgerät)", "fr": "Android (mobile)", "es": "Android (móvil)"}

// phoneRow is the phone's system on the sessions page (the session that is
// not the current one).
const phoneRow = `[data-testid="own-session-row"]:not(:has([data-testid="session-current"])) [data-testid="session-system"]`

// An event's detail is stored as a code and its parameters and written in
// the reader's language when shown; a row from before the codes shows
// what it stored. The kind of device after a session's system ("Android
// (mobile)") is translated too. Both used to be English on every page.
func TestEventDetailsAndDevicesTranslated(t *testing.T) {
	ts := newTestServer(t, trustLocalProxy)
	c, u := ts.signUpAndLogin(t, "lena", "correct-horse-battery")
	phone := ts.clientFrom(t, "198.51.100.7", androidPhone)
	phone.login("lena", "correct-horse-battery")
	// Coded details: the other session ended by its owner, and a
	// password change that ends the phone's session again.
	wantRedirect(t, c.postForm(route.URL(route.SessionsRevokeOthers), nil), route.URL(route.Sessions))
	phone.login("lena", "correct-horse-battery")
	res := c.postForm(route.URL(route.PasswordChange), map[string][]string{
		"old_password": {"correct-horse-battery"}, "new_password1": {"another-horse-battery"}, "new_password2": {"another-horse-battery"},
	})
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusOK {
		t.Fatalf("password change: status %d", res.StatusCode)
	}
	phone.login("lena", "another-horse-battery")
	// A row from before the codes: free English, no code.
	const legacy = "an old detail, stored in English"
	if err := models.NewEvents(ts.db).Record(context.Background(), models.UserEvent(models.EventAdminAction, u, nil, legacy)); err != nil {
		t.Fatal(err)
	}

	details := func(lang string) []string {
		t.Helper()
		res := withLanguage(c, lang).get(route.URL(route.Activity))
		wantStatus(t, res, http.StatusOK)
		var out []string
		res.doc(t).Find(`[data-testid="activity-detail"]`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, strings.TrimSpace(s.Text()))
		})
		return out
	}
	en := details("en")
	for _, want := range []string{"Signed out everywhere else by the owner: 1 session", "1 other session ended", legacy} {
		if !slices.Contains(en, want) {
			t.Errorf("English activity details %q lack %q", en, want)
		}
	}
	for _, lang := range []string{"de", "fr", "es"} {
		got := details(lang)
		if len(got) != len(en) {
			t.Fatalf("%s: %d details, English has %d", lang, len(got), len(en))
		}
		for i := range got {
			if en[i] == legacy {
				if got[i] != legacy {
					t.Errorf("%s: the old row's detail shows %q, want it as stored (%q)", lang, got[i], legacy)
				}
				continue
			}
			if got[i] == en[i] {
				t.Errorf("%s: detail %q is the English one", lang, got[i])
			}
		}
		system := withLanguage(c, lang).get(route.URL(route.Sessions)).doc(t).Find(phoneRow).Text()
		if system != phoneSystem[lang] {
			t.Errorf("%s sessions page: the phone's system is %q, want %q", lang, system, phoneSystem[lang])
		}
	}
	if s := withLanguage(c, "en").get(route.URL(route.Sessions)).doc(t).Find(phoneRow).Text(); s != phoneSystem["en"] {
		t.Errorf("English sessions page: the phone's system is %q, want %q", s, phoneSystem["en"])
	}
}
