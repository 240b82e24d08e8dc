package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// TestOIDCBackchannelLogoutSid: ID tokens carry a sid per browser session
// (the same for every app one browser signed in to, another for another
// browser, kept by refreshed ID tokens, and neither the session's cookie
// nor its row ID); one browser's sign-out — the sign-out button, and
// RP-initiated logout — sends each app that browser signed in to a
// logout token (verified with go-oidc) with the person's sub and that
// sid, and no app another browser alone signed in to hears anything; the
// other browser stays signed in.
func TestOIDCBackchannelLogoutSid(t *testing.T) {
	ts := oidcServer(t)
	recvA, recvB, recvC := newLogoutReceiver(t, 0), newLogoutReceiver(t, 0), newLogoutReceiver(t, 0)
	scopes := []string{gooidc.ScopeOpenID, "profile", gooidc.ScopeOfflineAccess}
	a := ts.newRP(t, oidcop.NewClient{Name: "Wiki", SkipConsent: true, BackchannelLogoutURI: recvA.URL + "/bc",
		PostLogoutRedirectURIs: []string{"http://rp.test/bye"}}, scopes...)
	b := ts.newRP(t, oidcop.NewClient{Name: "Chat", SkipConsent: true, BackchannelLogoutURI: recvB.URL + "/bc"}, scopes...)
	cl := ts.newRP(t, oidcop.NewClient{Name: "Mail", SkipConsent: true, BackchannelLogoutURI: recvC.URL + "/bc"}, scopes...)

	laptop, u := ts.signUpAndLogin(t, "carol", "correct horse battery")
	phone := ts.client(t)
	phone.login("carol", "correct horse battery")

	tokA1, f := a.signIn(laptop)
	idA1 := a.verify(tokA1, f)
	tokB1, f := b.signIn(laptop)
	idB1 := b.verify(tokB1, f)
	tokA2, f := a.signIn(phone)
	idA2 := a.verify(tokA2, f)
	tokC2, f := cl.signIn(phone)
	idC2 := cl.verify(tokC2, f)
	s1, s2 := idA1.Sid, idA2.Sid
	if s1 == "" || s2 == "" || s1 == s2 || idB1.Sid != s1 || idC2.Sid != s2 {
		t.Fatalf("sids: laptop %q (wiki) %q (chat), phone %q (wiki) %q (mail); want one per browser", s1, idB1.Sid, s2, idC2.Sid)
	}
	// The sid leads to no session: not a cookie, not a row ID or its
	// public ID.
	var rows []models.Session
	ts.db.Where("user_id = ?", u.ID).Find(&rows)
	for _, r := range rows {
		for _, v := range []string{r.ID, models.SessionPublicID(r.ID)} {
			if v == s1 || v == s2 {
				t.Errorf("a sid is the session's %q", v)
			}
		}
	}
	for _, cookie := range []string{laptop.sessionCookie(), phone.sessionCookie()} {
		if cookie == "" || strings.Contains(cookie, s1) || strings.Contains(cookie, s2) || s1 == cookie || s2 == cookie {
			t.Errorf("session cookie %q: missing, or a sid", cookie)
		}
	}
	// A refreshed ID token keeps its sid.
	refreshed, err := a.conf.TokenSource(a.ctx, &oauth2.Token{RefreshToken: tokA1.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if got := a.verify(refreshed, nil).Sid; got != s1 {
		t.Errorf("refreshed ID token sid: got %q, want %q", got, s1)
	}

	// The laptop confirms its password (sudo): its session moves to a
	// new row and cookie, and keeps its sid, for the apps it signed in to
	// and for a sign-in after the move.
	before := laptop.sessionCookie()
	if res := laptop.postForm(route.URL(route.Reauth), url.Values{"password": {"correct horse battery"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reauthenticate: got %d %.300s", res.StatusCode, res.body)
	}
	if laptop.sessionCookie() == before {
		t.Fatal("re-authentication did not rotate the session (the test needs it to)")
	}
	tokB1, f = b.signIn(laptop)
	if got := b.verify(tokB1, f).Sid; got != s1 {
		t.Errorf("sign-in after the session moved: sid %q, want the laptop's %q", got, s1)
	}

	// The laptop signs out: Wiki and Chat hear of that browser's sid.
	res := laptop.postForm(route.URL(route.Logout), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: got %d", res.StatusCode)
	}
	for _, rc := range []struct {
		r    *rp
		recv *logoutReceiver
	}{{a, recvA}, {b, recvB}} {
		got := rc.r.verifyLogout(rc.recv.next(t))
		if got.Sub != idA1.Sub || got.Sid != s1 {
			t.Errorf("%s: logout token sub %q sid %q, want %q and the laptop's sid %q", rc.r.conf.ClientID, got.Sub, got.Sid, idA1.Sub, s1)
		}
	}
	recvC.none(t, 200*time.Millisecond)
	recvA.none(t, 0)
	// The phone is still signed in, its tokens still work.
	if res := phone.get(route.URL(route.Profile)); res.StatusCode != http.StatusOK {
		t.Fatalf("phone after the laptop's sign-out: got %d", res.StatusCode)
	}
	if _, err := cl.provider.UserInfo(cl.ctx, oauth2.StaticTokenSource(tokC2)); err != nil {
		t.Errorf("phone's token after the laptop's sign-out: %v", err)
	}

	// A third browser, ended from the laptop's sessions page: its apps
	// hear of its sid, as at its own sign-out.
	laptop.login("carol", "correct horse battery")
	tablet := ts.client(t)
	tablet.login("carol", "correct horse battery")
	tokB3, f := b.signIn(tablet)
	s3 := b.verify(tokB3, f).Sid
	var tabletRow models.Session
	ts.db.Where("user_id = ?", u.ID).Order("created_at DESC").First(&tabletRow)
	if res := laptop.postForm(route.URL(route.SessionRevoke, models.SessionPublicID(tabletRow.ID)), nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke the tablet's session: got %d %.300s", res.StatusCode, res.body)
	}
	if got := b.verifyLogout(recvB.next(t)); got.Sid != s3 || s3 == s1 || s3 == s2 {
		t.Errorf("revoked session: logout sid %q, want the tablet's %q", got.Sid, s3)
	}
	recvA.none(t, 200*time.Millisecond)

	// The phone signs out through Wiki (RP-initiated logout): Wiki and
	// Mail hear of the phone's sid; Chat does not.
	idt, _ := tokA2.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://rp.test/bye"}, "state": {"x"}}
	wantStatus(t, phone.postForm(route.URL(route.OIDCEndSession), q), http.StatusFound)
	for _, rc := range []struct {
		r    *rp
		recv *logoutReceiver
	}{{a, recvA}, {cl, recvC}} {
		got := rc.r.verifyLogout(rc.recv.next(t))
		if got.Sub != idA2.Sub || got.Sid != s2 {
			t.Errorf("%s: logout token sub %q sid %q, want %q and the phone's sid %q", rc.r.conf.ClientID, got.Sub, got.Sid, idA2.Sub, s2)
		}
	}
	recvB.none(t, 200*time.Millisecond)
	// The sessions' records went with them.
	var left int64
	ts.db.Model(&models.OIDCSessionClient{}).Where("user_id = ?", u.ID).Count(&left)
	if left != 0 {
		t.Errorf("%d session records left after both sign-outs", left)
	}
}
