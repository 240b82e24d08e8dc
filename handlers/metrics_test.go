package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testdb"
	"gatehouse/metrics"
	"gatehouse/models"
)

// scrape fetches the metrics text from srv.
func scrape(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v", res.StatusCode, err)
	}
	return string(b)
}

// sample returns the value of the series written exactly as series (name
// and labels in the exposition's order), or -1 when absent.
func sample(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsAfterWorkload runs a scripted workload and finds its counts in
// a scrape of the metrics listener: requests by route pattern and status,
// logins by outcome, throttle refusals by limit, hash slots and waits,
// sessions created and ended, security events, the connection pool and the
// Go runtime. No username, address or password appears, and /metrics does
// not exist on the public address.
func TestMetricsAfterWorkload(t *testing.T) {
	m := metrics.New()
	ts := newTestServer(t, func(c *Config) {
		c.Metrics = m
		c.LoginLimitPerUserIP = models.Limit{Max: 3, Window: 15 * time.Minute}
	})
	msrv := httptest.NewServer(m.Handler())
	defer msrv.Close()

	ts.createUser(t, "alice", "alice@example.com", "correct horse battery")
	ts.createUser(t, "bob", "bob@example.com", "correct horse battery")
	alice := ts.client(t)
	alice.login("alice", "correct horse battery")
	ts.client(t).login("alice", "correct horse battery")
	for range 4 {
		wantStatus(t, alice.get("/"), http.StatusOK)
	}
	attacker := ts.client(t)
	for range 2 {
		wantStatus(t, attacker.postForm("/accounts/login/", loginValues("nobody", "guess-guess")), http.StatusUnprocessableEntity)
	}
	// Three wrong passwords for bob reach the limit; the fourth is refused.
	for range 3 {
		wantStatus(t, attacker.postForm("/accounts/login/", loginValues("bob", "wrong-password")), http.StatusUnprocessableEntity)
	}
	wantStatus(t, attacker.postForm("/accounts/login/", loginValues("bob", "wrong-password")), http.StatusTooManyRequests)
	wantStatus(t, attacker.get("/no/such/page"), http.StatusNotFound)
	wantRedirect(t, alice.postForm("/accounts/logout/", nil), "/")

	text := scrape(t, msrv)
	// The pool's default bound, per database.
	maxConns := float64(models.DefaultSQLiteMaxConns())
	if testdb.Postgres() {
		maxConns = models.DefaultPostgresMaxConns
	}
	checks := []struct {
		series string
		want   float64
	}{
		{`gatehouse_logins_total{outcome="success"}`, 2},
		{`gatehouse_logins_total{outcome="throttled"}`, 1},
		{`gatehouse_throttle_refusals_total{limit="login:user+ip"}`, 1},
		{`gatehouse_http_request_duration_seconds_count{method="GET",route="/",status="200"}`, 4},
		{`gatehouse_http_request_duration_seconds_count{method="POST",route="/accounts/login/",status="422"}`, 5},
		{`gatehouse_http_request_duration_seconds_count{method="POST",route="/accounts/login/",status="429"}`, 1},
		{`gatehouse_http_request_duration_seconds_count{method="GET",route="(no route)",status="404"}`, 1},
		{`gatehouse_security_events_total{kind="login_failed"}`, 5},
		{`gatehouse_security_events_total{kind="logout"}`, 1},
		{`gatehouse_sessions_ended_total`, 1},
		{`gatehouse_hash_slots_in_use`, 0},
		{`gatehouse_hash_slots`, 4},
		// createUser x2 hashes; logins verify (2 right, 5 wrong).
		{`gatehouse_hash_wait_seconds_count`, 9},
		{`go_sql_max_open_connections{db_name="gatehouse"}`, maxConns},
	}
	for _, c := range checks {
		if got := sample(text, c.series); got != c.want {
			t.Errorf("%s: got %v, want %v", c.series, got, c.want)
		}
	}
	// Two logins; logout may make a row for its flash message.
	if got := sample(text, `gatehouse_sessions_created_total`); got < 2 {
		t.Errorf("sessions created: got %v, want at least 2", got)
	}
	// Failed logins split by whether the username exists (the event is
	// linked to the account when it does).
	failed := sample(text, `gatehouse_logins_total{outcome="unknown_user"}`) + max(0, sample(text, `gatehouse_logins_total{outcome="wrong_password"}`))
	if failed != 5 {
		t.Errorf("failed logins (unknown_user + wrong_password): got %v, want 5", failed)
	}
	// The pool's size depends on the database and the cores: present is
	// what counts.
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes", `go_sql_open_connections{db_name="gatehouse"}`,
		`go_sql_max_open_connections{db_name="gatehouse"}`, "gatehouse_outbox_depth"} {
		if sample(text, series) < 0 {
			t.Errorf("%s missing from the scrape", series)
		}
	}
	for _, secret := range []string{"alice", "bob", "nobody", "127.0.0.1", "wrong-password", "example.com"} {
		if strings.Contains(text, secret) {
			t.Errorf("scrape contains %q", secret)
		}
	}
	wantStatus(t, ts.client(t).get("/metrics"), http.StatusNotFound)
}
