package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

func TestSecurityEventsRecorded(t *testing.T) {
	ts := newTestServer(t, loginLimits(2, 1000))
	const (
		realPassword  = "Tr0ub4dor&3-real-secret"
		wrongPassword = "wr0ng-Passw0rd-typed-by-alice"
		unknownPass   = "pw-typed-for-an-unknown-user"
		throttledPass = "pw-typed-while-throttled"
		ip, ua        = "192.0.2.33", "events-test-agent/1.0"
	)
	alice := ts.createUser(t, "alice", "alice@example.com", realPassword)
	c := ts.clientFrom(t, ip, ua)
	start := time.Now().UTC().Add(-time.Second)

	wantStatus(t, c.postForm("/accounts/login/", loginValues("nobody", unknownPass)), http.StatusUnprocessableEntity)
	wantStatus(t, c.postForm("/accounts/login/", loginValues("alice", wrongPassword)), http.StatusUnprocessableEntity)
	c.login("alice", realPassword)
	token := c.cookie(models.SessionCookieName)
	wantRedirect(t, c.postForm("/accounts/logout/", nil), "/")
	wantStatus(t, c.postForm("/accounts/login/", loginValues("nobody", unknownPass)), http.StatusUnprocessableEntity)
	wantThrottled(t, c.postForm("/accounts/login/", loginValues("nobody", throttledPass)))
	end := time.Now().UTC().Add(time.Second)

	var evs []models.AuthEvent
	if err := ts.db.Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind     models.EventKind
		username string
		userID   *uint
	}{
		{models.EventLoginFailed, "nobody", nil},
		{models.EventLoginFailed, "alice", nil},
		{models.EventLoginSucceeded, "alice", &alice.ID},
		{models.EventLogout, "alice", &alice.ID},
		{models.EventLoginFailed, "nobody", nil},
		{models.EventLoginThrottled, "nobody", nil},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.Kind != w.kind || e.Username != w.username {
			t.Errorf("event %d: got %s/%q, want %s/%q", i, e.Kind, e.Username, w.kind, w.username)
		}
		if (e.UserID == nil) != (w.userID == nil) || (w.userID != nil && *e.UserID != *w.userID) {
			t.Errorf("event %d (%s): got user ID %v, want %v", i, e.Kind, e.UserID, w.userID)
		}
		if e.IP != ip || e.UserAgent != ua {
			t.Errorf("event %d (%s): got IP %q, user agent %q, want %q, %q", i, e.Kind, e.IP, e.UserAgent, ip, ua)
		}
		if e.CreatedAt.Before(start) || e.CreatedAt.After(end) {
			t.Errorf("event %d (%s): got time %v, want between %v and %v", i, e.Kind, e.CreatedAt, start, end)
		}
	}

	// No secret anywhere in the database: not in any row of any table,
	// nor in the raw files (WAL included).
	secrets := []string{realPassword, wrongPassword, unknownPass, throttledPass, token}
	for _, row := range dumpTables(t, ts) {
		for _, s := range secrets {
			if strings.Contains(row, s) {
				t.Errorf("a stored row holds a password or token: %.300s", row)
			}
		}
	}
	if err := ts.db.Exec("PRAGMA wal_checkpoint(PASSIVE)").Error; err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{ts.dbPath, ts.dbPath + "-wal"} {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a password or token", path)
			}
		}
	}
}

// dumpTables returns every row of every table as text, for scanning.
func dumpTables(t *testing.T, ts *testServer) []string {
	t.Helper()
	var tables []string
	if err := ts.db.Raw("SELECT name FROM sqlite_master WHERE type = 'table'").Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tbl := range tables {
		var rows []map[string]any
		if err := ts.db.Table(tbl).Find(&rows).Error; err != nil {
			t.Fatalf("dump %s: %v", tbl, err)
		}
		for _, r := range rows {
			var b strings.Builder
			b.WriteString(tbl)
			for k, v := range r {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
			out = append(out, b.String())
		}
	}
	if len(out) == 0 {
		t.Fatal("dumped no rows")
	}
	return out
}
