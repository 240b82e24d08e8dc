package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// A user's time zone: saved from the hub's form (an IANA name, checked by
// time.LoadLocation; empty or UTC for UTC), then every date of theirs — the
// hub, sessions, activity, the admin's pages — is shown in it, in their
// language. Bad zones of every kind are a 422 with the reason, never a 500,
// and change nothing.
func TestTimeZonePreference(t *testing.T) {
	ts := newTestServer(t)
	c, u := ts.signUpAndLogin(t, "zoe", "correct horse battery")
	withLanguage(c, "de")
	res := c.get(route.URL(route.Profile))
	wantStatus(t, res, http.StatusOK)
	if res.doc(t).Find(`#time-zone-form input[name="time_zone"]`).Length() != 1 {
		t.Fatal("no time zone field on the hub")
	}
	utc := locale.For("de").DateTime(u.DateJoined)
	if got := res.text(t, `[data-testid="profile-joined"]`); got != utc {
		t.Fatalf("before: joined %q, want UTC %q", got, utc)
	}

	for _, bad := range []string{"Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Local", "Europe/Berlin\x00",
		"Europe/../UTC", "\xff\xfe", strings.Repeat("A", 65), strings.Repeat("Europe/Berlin", 1000), "<script>"} {
		res := c.postForm(route.URL(route.TimeZone), url.Values{"time_zone": {bad}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%.40q: status %d, want 422", bad, res.StatusCode)
			continue
		}
		if res.doc(t).Find(`#id_time_zone[aria-invalid="true"]`).Length() != 1 || !strings.Contains(res.body, "Europe/Berlin") {
			t.Errorf("%.40q: the field is not marked or the reason missing", bad)
		}
	}
	if got := ts.reloadUser(t, u.ID).TimeZone; got != "" {
		t.Fatalf("a refused zone was saved: %q", got)
	}

	wantRedirect(t, c.postForm(route.URL(route.TimeZone), url.Values{"time_zone": {" Asia/Kathmandu "}}), route.URL(route.Profile))
	if got := ts.reloadUser(t, u.ID).TimeZone; got != "Asia/Kathmandu" {
		t.Fatalf("saved zone %q", got)
	}
	kathmandu, _ := time.LoadLocation("Asia/Kathmandu")
	want := locale.For("de").In(kathmandu).DateTime(u.DateJoined)
	if want == utc {
		t.Fatal("the zone makes no difference to the test's date")
	}
	res = c.get(route.URL(route.Profile))
	if got := res.text(t, `[data-testid="profile-joined"]`); got != want {
		t.Errorf("hub: joined %q, want %q", got, want)
	}
	if v := res.doc(t).Find(`input[name="time_zone"]`).AttrOr("value", ""); v != "Asia/Kathmandu" {
		t.Errorf("the field shows %q", v)
	}
	// Sessions and activity in the zone.
	var s models.Session
	if err := ts.db.Where("user_id = ?", u.ID).Order("created_at DESC").Take(&s).Error; err != nil {
		t.Fatal(err)
	}
	if body := c.get(route.URL(route.Sessions)).body; !strings.Contains(body, locale.For("de").In(kathmandu).DateTime(s.CreatedAt)) {
		t.Errorf("sessions page lacks the sign-in time in Kathmandu time (%s)", locale.For("de").In(kathmandu).DateTime(s.CreatedAt))
	}
	var ev models.AuthEvent
	if err := ts.db.Where("user_id = ?", u.ID).Order("id DESC").Take(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if body := c.get(route.URL(route.Activity)).body; !strings.Contains(body, locale.For("de").In(kathmandu).DateTime(ev.CreatedAt)) {
		t.Errorf("activity page lacks the event time in Kathmandu time")
	}

	// Staff see others' dates in their own zone.
	admin, root := ts.createAdmin(t, "root", true, true)
	if err := ts.users.SetTimeZone(t.Context(), root.ID, "America/St_Johns"); err != nil {
		t.Fatal(err)
	}
	stJohns, _ := time.LoadLocation("America/St_Johns")
	body := admin.get(route.URL(route.AdminUser, u.ID)).body
	if !strings.Contains(body, locale.For("en").In(stJohns).DateTime(u.DateJoined)) {
		t.Errorf("admin's user page lacks the join date in the admin's zone (%s)", locale.For("en").In(stJohns).DateTime(u.DateJoined))
	}

	// Empty (or UTC) goes back to UTC.
	wantRedirect(t, c.postForm(route.URL(route.TimeZone), url.Values{"time_zone": {"UTC"}}), route.URL(route.Profile))
	if got := ts.reloadUser(t, u.ID).TimeZone; got != "" {
		t.Errorf("UTC saved as %q", got)
	}
	// A visitor cannot set one.
	v := ts.client(t)
	if res := v.postForm(route.URL(route.TimeZone), url.Values{"time_zone": {"Europe/Berlin"}}); res.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(res.Header.Get("Location"), route.URL(route.Login)) {
		t.Errorf("visitor: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func (ts *testServer) reloadUser(t *testing.T, id uint) *models.User {
	t.Helper()
	var u models.User
	if err := ts.db.Take(&u, id).Error; err != nil {
		t.Fatal(err)
	}
	return &u
}
