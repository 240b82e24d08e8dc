package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/route"
	"gatehouse/mail/mailtest"
	"gatehouse/models"
)

// connectVia runs a connection from /accounts/3rdparty/ for c and returns
// the callback's answer.
func connectVia(t *testing.T, c *testClient, providerID string) *response {
	t.Helper()
	cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialConnect), url.Values{"provider": {providerID}}))
	return c.get(cb)
}

func TestConnectAndDisconnectFromTheAccount(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	c, u := ts.signUpAndLogin(t, "frank", "correct horse battery")

	page := c.get(route.URL(route.Connections))
	wantStatus(t, page, http.StatusOK)
	if page.doc(t).Find(`[data-testid="no-connections"]`).Length() != 1 || page.doc(t).Find(`[data-testid="connect-corp"]`).Length() != 1 {
		t.Fatalf("connections page: %s", page.body)
	}
	// Reachable by clicking from the account pages.
	if prof := c.get(route.URL(route.Profile)); prof.doc(t).Find(`a[href="/accounts/3rdparty/"]`).Length() == 0 {
		t.Fatal("no link to /accounts/3rdparty/ on the profile")
	}

	// Its address differs from the account's: connecting is by choice,
	// not by address.
	m.QueueUser(mockUser("sub-frank", "frank@corp.example", false, "frank.c"))
	wantRedirect(t, connectVia(t, c, "corp"), route.URL(route.Connections))
	page = c.get(route.URL(route.Connections))
	if n := page.doc(t).Find(`[data-testid="connection"]`).Length(); n != 1 || !strings.Contains(page.body, "Corp SSO is connected") {
		t.Fatalf("after connecting: %d connections; %s", n, page.body)
	}

	// Now that identity signs in to frank's account.
	b := ts.client(t)
	wantRedirect(t, upstreamCallback(t, b, m, mockUser("sub-frank", "frank@corp.example", false, "frank.c")), "/accounts/profile/")
	if got := signedInAs(t, b); got != "frank" {
		t.Fatalf("signed in as %q, want frank", got)
	}

	// Another account cannot connect the same identity.
	o, _ := ts.signUpAndLogin(t, "grace", "correct horse battery")
	m.QueueUser(mockUser("sub-frank", "frank@corp.example", false, "frank.c"))
	wantRedirect(t, connectVia(t, o, "corp"), route.URL(route.Connections))
	if body := o.get(route.URL(route.Connections)).body; !strings.Contains(body, "already connected to another account") {
		t.Fatalf("grace's page does not say so: %s", body)
	}

	// Connecting needs a recent confirmation, like every way in.
	ts.ageReauth(t, u.ID)
	res := c.postForm(route.URL(route.SocialConnect), url.Values{"provider": {"corp"}})
	wantStatus(t, res, http.StatusSeeOther)
	if !strings.HasPrefix(res.Header.Get("Location"), route.URL(route.Reauth)) {
		t.Fatalf("stale confirmation: connect went to %q", res.Header.Get("Location"))
	}
	c.postForm(route.URL(route.Reauth), url.Values{"password": {"correct horse battery"}})

	// frank has a password, so the identity can go.
	id, _ := page.doc(t).Find(`[data-testid="connection"] form`).Attr("action")
	wantRedirect(t, c.postForm(id, nil), route.URL(route.Connections))
	if n := c.get(route.URL(route.Connections)).doc(t).Find(`[data-testid="connection"]`).Length(); n != 0 {
		t.Fatalf("%d connections after disconnecting", n)
	}
	// And no longer signs in there: it is a new person now.
	b2 := ts.client(t)
	wantRedirect(t, upstreamCallback(t, b2, m, mockUser("sub-frank", "frank@corp.example", false, "frank.c")), route.URL(route.SocialSignup))
}

// An account made through a provider: its only way in stays; it confirms
// through the provider; it can set a password, after which the identity
// may go.
func TestProviderOnlyAccountKeepsAWayIn(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	c := ts.client(t)
	wantRedirect(t, upstreamCallback(t, c, m, mockUser("sub-hana", "hana@corp.example", true, "hana")), route.URL(route.SocialSignup))
	wantRedirect(t, c.postForm(route.URL(route.SocialSignup), url.Values{"username": {"hana"}, "email": {"hana@corp.example"}}), "/accounts/profile/") // the flow's next

	page := c.get(route.URL(route.Connections))
	wantStatus(t, page, http.StatusOK)
	action, _ := page.doc(t).Find(`[data-testid="connection"] form`).Attr("action")
	wantRedirect(t, c.postForm(action, nil), route.URL(route.Connections))
	page = c.get(route.URL(route.Connections))
	if !strings.Contains(page.body, "only way you can sign in") || page.doc(t).Find(`[data-testid="connection"]`).Length() != 1 {
		t.Fatalf("the last way in was removed: %s", page.body)
	}

	// The confirmation lapses; hana confirms through the provider.
	u, _ := ts.users.ByUsername(t.Context(), "hana")
	ts.ageReauth(t, u.ID)
	res := c.get(route.URL(route.Connections))
	wantStatus(t, res, http.StatusSeeOther)
	reauth := c.get(res.Header.Get("Location"))
	if reauth.doc(t).Find(`[data-testid="reauth-provider-corp"]`).Length() != 1 {
		t.Fatalf("the confirmation page does not offer the provider: %s", reauth.body)
	}
	// Someone else's identity at the provider does not confirm hana.
	m.QueueUser(mockUser("sub-other", "other@corp.example", true, "other"))
	cb := atProvider(t, startUpstream(t, c, route.URL(route.ReauthUpstream), url.Values{"provider": {"corp"}, "next": {route.URL(route.Connections)}}))
	res = c.get(cb)
	wantStatus(t, res, http.StatusSeeOther)
	if !strings.HasPrefix(res.Header.Get("Location"), route.URL(route.Reauth)) {
		t.Fatalf("another identity: went to %q, want back to the confirmation", res.Header.Get("Location"))
	}
	if body := c.get(res.Header.Get("Location")).body; !strings.Contains(body, "not connected to your account") {
		t.Fatalf("the confirmation page does not say why: %s", body)
	}
	wantStatus(t, c.get(route.URL(route.Connections)), http.StatusSeeOther) // still not confirmed
	m.QueueUser(mockUser("sub-hana", "hana@corp.example", true, "hana"))
	cb = atProvider(t, startUpstream(t, c, route.URL(route.ReauthUpstream), url.Values{"provider": {"corp"}, "next": {route.URL(route.Connections)}}))
	wantRedirect(t, c.get(cb), route.URL(route.Connections))
	wantStatus(t, c.get(route.URL(route.Connections)), http.StatusOK)

	// A first password: within the confirmation no old one is asked.
	pw := c.get(route.URL(route.PasswordChange))
	if pw.doc(t).Find(`input[name="old_password"]`).Length() != 0 {
		t.Fatalf("set-password form asks for an old password: %s", pw.body)
	}
	wantRedirect(t, c.postForm(route.URL(route.PasswordChange), url.Values{"new_password1": {"a new long passphrase"}, "new_password2": {"a new long passphrase"}}), route.URL(route.Profile))
	other := ts.client(t)
	other.login("hana", "a new long passphrase")
	// Now the identity may go.
	wantRedirect(t, c.postForm(action, nil), route.URL(route.Connections))
	if n := c.get(route.URL(route.Connections)).doc(t).Find(`[data-testid="connection"]`).Length(); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}

// The new-browser notice and the events name the provider; the admin's
// user page shows the account's identities.
func TestUpstreamNoticeEventsAndAdmin(t *testing.T) {
	m := startMockOIDC(t)
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withProviders(corpProvider(m)), withMail, func(c *Config) { c.NewDeviceNotice = true })
	c, u := ts.signUpAndLogin(t, "ivan", "correct horse battery")
	m.QueueUser(mockUser("sub-ivan", "ivan@corp.example", true, "ivan"))
	wantRedirect(t, connectVia(t, c, "corp"), route.URL(route.Connections))

	b := ts.client(t)
	wantRedirect(t, upstreamCallback(t, b, m, mockUser("sub-ivan", "ivan@corp.example", true, "ivan")), "/accounts/profile/")
	msg := mailAbout(t, srv, "New sign-in")
	if msg.To[0] != "ivan@example.com" || !strings.Contains(msg.Text, "The sign-in was through Corp SSO.") {
		t.Fatalf("notice %q to %v:\n%s", msg.Subject, msg.To, msg.Text)
	}
	if e := ts.lastEvent(t, u.ID); e.Kind != models.EventNewDevice || !strings.Contains(models.EventDetail(context.Background(), &e), "Corp SSO") {
		t.Fatalf("last event %q %q, want the new-browser event naming Corp SSO", e.Kind, e.Detail)
	}
	act := c.get(route.URL(route.Activity))
	if !strings.Contains(act.body, "Sign-in through another provider connected") {
		t.Fatalf("activity page lacks the connection: %s", act.body)
	}

	admin, _ := ts.createAdmin(t, "boss", true, true)
	page := admin.get(route.URL(route.AdminUser, u.ID))
	wantStatus(t, page, http.StatusOK)
	row := page.doc(t).Find(`[data-testid="admin-identity"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "Corp SSO") || !strings.Contains(row.Text(), "ivan@corp.example") {
		t.Fatalf("admin identities: %s", page.body)
	}
	if page.doc(t).Find(`[data-testid="admin-no-password"]`).Length() != 0 {
		t.Fatal("admin says ivan has no password")
	}
}

// The sweep removes flows nobody finished.
func TestSweepRemovesExpiredFlows(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	c := ts.client(t)
	startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil)
	n, err := models.DeleteExpiredSocialFlows(t.Context(), ts.db, time.Now().Add(auth.SignupFlowLifetime))
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
}

// Hostile input on every route of the area: a clear 4xx, never a 500.
func TestUpstreamHostileInput(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	huge := strings.Repeat("A", 64<<10)
	c := ts.client(t)
	startUpstream(t, c, route.URL(route.SocialLogin, "corp"), nil) // a real flow cookie
	cases := []struct {
		name, path string
		want       int
	}{
		{"unknown provider", route.URL(route.SocialCallback, "nope") + "?state=x&code=y", http.StatusNotFound},
		{"no parameters", route.URL(route.SocialCallback, "corp"), http.StatusBadRequest},
		{"huge state and code", route.URL(route.SocialCallback, "corp") + "?state=" + huge + "&code=" + huge, http.StatusBadRequest},
		{"control characters", route.URL(route.SocialCallback, "corp") + "?state=%00%01%0a&code=%ff%fe&error=%00", http.StatusBadRequest},
		{"repeated parameters", route.URL(route.SocialCallback, "corp") + "?state=a&state=b&code=c&code=d", http.StatusBadRequest},
		{"error without state", route.URL(route.SocialCallback, "corp") + "?error=access_denied&error_description=%3Cscript%3E", http.StatusBadRequest},
		{"github not configured", route.URL(route.GitHubCallback) + "?state=x&code=y", http.StatusNotFound},
		{"signup without a flow", route.URL(route.SocialSignup), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, c.get(tc.path), tc.want)
		})
	}
	t.Run("forged flow cookie", func(t *testing.T) {
		f := ts.client(t)
		f.setCookie("upstream", huge)
		wantStatus(t, f.get(route.URL(route.SocialSignup)), http.StatusBadRequest)
		wantStatus(t, f.postForm(route.URL(route.SocialSignup), url.Values{"username": {"x"}, "email": {"x@example.com"}}), http.StatusBadRequest)
	})
	t.Run("hostile next is dropped", func(t *testing.T) {
		f := ts.client(t)
		m.QueueUser(mockUser("sub-h", "h@corp.example", true, "h"))
		cb := atProvider(t, startUpstream(t, f, route.URL(route.SocialLogin, "corp"), url.Values{"next": {"//evil.example/"}}))
		wantRedirect(t, f.get(cb), route.URL(route.SocialSignup))
		wantRedirect(t, f.postForm(route.URL(route.SocialSignup), url.Values{"username": {"h"}, "email": {"h@corp.example"}}), "/")
	})
	t.Run("hostile sign-up fields", func(t *testing.T) {
		f := ts.client(t)
		m.QueueUser(mockUser("sub-i", "i@corp.example", true, "i"))
		wantRedirect(t, f.get(atProvider(t, startUpstream(t, f, route.URL(route.SocialLogin, "corp"), nil))), route.URL(route.SocialSignup))
		for _, v := range []url.Values{
			{"username": {huge}, "email": {"i@corp.example"}},
			{"username": {"i\x00"}, "email": {"i@corp.example"}},
			{"username": {"i"}, "email": {"not an address"}},
			{"username": {""}, "email": {""}},
		} {
			wantStatus(t, f.postForm(route.URL(route.SocialSignup), v), http.StatusUnprocessableEntity)
		}
	})
}

// A connection finishes only for the account that started it, still
// signed in in that browser.
func TestConnectNeedsTheSameSignedInAccount(t *testing.T) {
	m := startMockOIDC(t)
	ts := newTestServer(t, withProviders(corpProvider(m)))
	c, a := ts.signUpAndLogin(t, "kate", "correct horse battery")
	ts.createUser(t, "liam", "liam@example.com", "correct horse battery")
	m.QueueUser(mockUser("sub-kate", "kate@corp.example", true, "kate"))
	cb := atProvider(t, startUpstream(t, c, route.URL(route.SocialConnect), url.Values{"provider": {"corp"}}))
	// kate signs out and liam signs in, in the same browser.
	c.postForm(route.URL(route.Logout), nil)
	c.login("liam", "correct horse battery")
	res := c.get(cb)
	wantStatus(t, res, http.StatusSeeOther)
	ids, err := ts.app.Accounts().Identities(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Fatal("the identity was connected to kate from liam's session")
	}
	if body := c.get(res.Header.Get("Location")).body; !strings.Contains(body, "not started in this browser") {
		t.Fatalf("liam is not told: %s", body)
	}
}

// mailAbout waits for the next delivered message whose subject contains
// want, skipping others (a new-device notice), and fails after 10 s.
func mailAbout(t *testing.T, srv *mailtest.Server, want string) mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m := srv.Next(t, time.Until(deadline))
		if strings.Contains(m.Subject, want) {
			return m
		}
	}
	t.Fatalf("no mail about %q", want)
	return mailtest.Message{}
}

// TestConnectAndDisconnectMailTheOwner: connecting and disconnecting a
// provider each send the account's owner a notice through the outbox and
// a real SMTP server — a connection is a new way into the account — with
// the provider's name, the address it came from and the page to undo it;
// a connection refused (the identity belongs to another account) sends
// none.
func TestConnectAndDisconnectMailTheOwner(t *testing.T) {
	m := startMockOIDC(t)
	srv, withMail := withSMTP(t)
	ts := newTestServer(t, withProviders(corpProvider(m)), withMail)
	c, _ := ts.signUpAndLogin(t, "frank", "correct horse battery")

	m.QueueUser(mockUser("sub-frank", "frank@corp.example", false, "frank.c"))
	wantRedirect(t, connectVia(t, c, "corp"), route.URL(route.Connections))
	msg := mailAbout(t, srv, "connected to")
	if msg.Subject != "Sign-in through Corp SSO was connected to your Gatehouse account" || len(msg.To) != 1 || msg.To[0] != "frank@example.com" {
		t.Errorf("connect notice: subject %q to %v", msg.Subject, msg.To)
	}
	for _, part := range []string{msg.Text, msg.HTML} {
		for _, w := range []string{"frank", "Corp SSO", "127.0.0.1", "http://example.test" + route.URL(route.Connections)} {
			if !strings.Contains(part, w) {
				t.Errorf("connect notice lacks %q:\n%s", w, part)
			}
		}
	}

	// Another account trying the same identity: refused, no mail.
	o, _ := ts.signUpAndLogin(t, "grace", "correct horse battery")
	m.QueueUser(mockUser("sub-frank", "frank@corp.example", false, "frank.c"))
	wantRedirect(t, connectVia(t, o, "corp"), route.URL(route.Connections))

	page := c.get(route.URL(route.Connections))
	action, _ := page.doc(t).Find(`[data-testid="connection"] form`).Attr("action")
	wantRedirect(t, c.postForm(action, nil), route.URL(route.Connections))
	msg = mailAbout(t, srv, "disconnected from")
	if msg.Subject != "Sign-in through Corp SSO was disconnected from your Gatehouse account" || msg.To[0] != "frank@example.com" ||
		!strings.Contains(msg.Text, "Corp SSO") {
		t.Errorf("disconnect notice: subject %q to %v:\n%s", msg.Subject, msg.To, msg.Text)
	}
	var refused int64
	ts.db.Model(&models.OutboxMessage{}).Where("kind = ? AND recipient = ?", models.KindSocialChanged, "grace@example.com").Count(&refused)
	if refused != 0 {
		t.Errorf("the refused connection queued %d notices to grace", refused)
	}
}
