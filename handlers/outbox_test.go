package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/metrics"
	"gatehouse/models"
)

// TestFailedMailOnOverviewAndMetrics: with the mail server refusing for
// longer than MAIL_RETRY_FOR, a reset mail fails for good; /metrics counts
// it (gatehouse_outbox_failed) and the admin overview lists it (no link)
// with "Send again", which needs a recent password confirmation and, once
// the server is back, sends it with a working link.
func TestFailedMailOnOverviewAndMetrics(t *testing.T) {
	srv, smtp := withSMTP(t)
	srv.FailNext(1000)
	m := metrics.New()
	ts := newTestServer(t, smtp, func(c *Config) {
		c.Metrics = m
		c.Outbox.RetryFor = 300 * time.Millisecond
		c.Outbox.MaxBackoff = 50 * time.Millisecond
	})
	msrv := httptest.NewServer(m.Handler())
	defer msrv.Close()
	admin, a := ts.createAdmin(t, "root", true, true)
	ts.createUser(t, "frank", "frank@example.com", "frank's long password")
	wantRedirect(t, ts.client(t).postForm("/accounts/password_reset/", url.Values{"email": {"frank@example.com"}}), "/accounts/password_reset/done/")

	var failed []models.OutboxMessage
	deadline := time.Now().Add(5 * time.Second)
	for len(failed) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		failed, _ = ts.app.Outbox().List(context.Background(), true, 10)
	}
	if len(failed) != 1 || failed[0].Kind != models.KindPasswordReset {
		t.Fatalf("failed mail: got %+v, want the reset mail", failed)
	}
	text := scrape(t, msrv)
	if got := sample(text, "gatehouse_outbox_failed"); got != 1 {
		t.Errorf("gatehouse_outbox_failed: got %v, want 1", got)
	}
	if got := sample(text, "gatehouse_outbox_depth"); got != 0 {
		t.Errorf("gatehouse_outbox_depth: got %v, want 0", got)
	}
	if got := sample(text, "gatehouse_outbox_failures_total"); got < 2 {
		t.Errorf("gatehouse_outbox_failures_total: got %v, want at least 2", got)
	}

	id := strconv.FormatUint(uint64(failed[0].ID), 10)
	res := admin.get("/admin/")
	wantStatus(t, res, http.StatusOK)
	row := res.doc(t).Find(`[data-testid="failed-mail-` + id + `"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "frank@example.com") || !strings.Contains(row.Text(), "try again later") {
		t.Fatalf("overview: failed mail row %q, want frank's reset mail with its error", row.Text())
	}
	if strings.Contains(res.body, "/accounts/reset/") {
		t.Error("the overview shows a reset link")
	}
	retry := "/admin/outbox/" + id + "/retry/"
	if res.doc(t).Find(`form[action="`+retry+`"] [data-testid="retry-mail-`+id+`"]`).Length() != 1 {
		t.Fatalf("overview: no Send again form posting to %s", retry)
	}

	// Without a recent password confirmation: to the re-authentication.
	ts.ageReauth(t, a.ID)
	srv.FailNext(0)
	wantRedirect(t, admin.postForm(retry, nil), reauthTo(retry))
	srv.None(t, 300*time.Millisecond)
	wantRedirect(t, admin.postForm("/accounts/reauthenticate/", url.Values{"password": {adminPW}, "next": {"/admin/"}}), "/admin/")
	wantRedirect(t, admin.postForm(retry, nil), "/admin/")
	got := srv.Next(t, 5*time.Second)
	path := resetPath(t, got)
	res = ts.client(t).get(path)
	wantRedirect(t, res, "/accounts/reset/set-password/")
	if s, _ := ts.app.Outbox().Stats(context.Background()); s.Failed != 0 {
		t.Errorf("after Send again: got %+v, want nothing failed", s)
	}
	if e := ts.lastActorEvent(t, a.ID); e.Kind != models.EventAdminAction || !strings.Contains(models.EventDetail(context.Background(), &e), "Failed mail "+id) {
		t.Errorf("security log: got %+v, want the staff retry recorded", e)
	}

	// A second Send again of the same message queues nothing.
	res = admin.postForm(retry, nil)
	wantRedirect(t, res, "/admin/")
	srv.None(t, 200*time.Millisecond)
	for _, bad := range []string{"/admin/outbox/0/retry/", "/admin/outbox/x/retry/", "/admin/outbox/99999999999/retry/"} {
		wantStatus(t, admin.postForm(bad, nil), http.StatusNotFound)
	}
}

// lastActorEvent returns the newest security event staff member actorID
// caused.
func (ts *testServer) lastActorEvent(t *testing.T, actorID uint) models.AuthEvent {
	t.Helper()
	var e models.AuthEvent
	if err := ts.db.Where("actor_id = ?", actorID).Order("id DESC").Take(&e).Error; err != nil {
		t.Fatalf("last event by %d: %v", actorID, err)
	}
	return e
}
