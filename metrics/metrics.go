// Package metrics has one job: Gatehouse's Prometheus metrics. It defines
// every metric and serves them (on METRICS_ADDR, a listener of its own,
// never the public router); the rest of the app reports through the small
// methods below, which do nothing on a nil *Metrics, so code that reports
// never checks whether metrics are on. Labels hold route patterns, status
// codes, outcomes and limit names only: never a username, an address, a
// token or a raw path.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"
)

// Metrics holds one app's metrics in a registry of its own.
type Metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.HistogramVec
	logins          *prometheus.CounterVec
	events          *prometheus.CounterVec
	throttleRefused *prometheus.CounterVec
	hashWait        prometheus.Histogram
	outboxFailures  prometheus.Counter
	sessionsCreated prometheus.Counter
	sessionsEnded   prometheus.Counter
	forward         *prometheus.CounterVec
	oidcTokens      *prometheus.CounterVec
	requestSeries   sync.Map // requestKey → prometheus.Observer
}

// OpenID provider token outcomes (the outcome label of
// gatehouse_oidc_tokens_total), by grant (code, refresh).
const (
	OIDCIssued  = "issued"
	OIDCRefused = "refused"
	OIDCReuse   = "reuse"
)

// Login outcomes (the outcome label of gatehouse_logins_total).
const (
	LoginSuccess       = "success"
	LoginWrongPassword = "wrong_password"
	LoginUnknownUser   = "unknown_user"
	LoginThrottled     = "throttled"
	LoginBusy          = "busy"
	// LoginPendingSecondFactor is reserved for when a second factor exists.
	LoginPendingSecondFactor = "pending_second_factor"
)

// New returns a registry with the app's metrics and the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status, with their latency. _count is the request count.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_logins_total",
			Help: "Login attempts by outcome: success, wrong_password, unknown_user, throttled, busy (no hashing slot).",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_security_events_total",
			Help: "Security events recorded, by kind (as in the admin's event list).",
		}, []string{"kind"}),
		throttleRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_throttle_refusals_total",
			Help: "Requests refused because a limit was blocking, by limit.",
		}, []string{"limit"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatehouse_hash_wait_seconds",
			Help:    "Time a password hash waited for a hashing slot (including waits that gave up).",
			Buckets: []float64{.0001, .001, .005, .01, .05, .1, .25, .5, 1, 2, 3, 5},
		}),
		outboxFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_outbox_failures_total",
			Help: "E-mails whose delivery attempt failed.",
		}),
		sessionsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_sessions_created_total",
			Help: "Session rows created (logins, sign-ups, rotations).",
		}),
		sessionsEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_sessions_ended_total",
			Help: "Session rows deleted (logouts, rotations, revocations, expiry sweeps).",
		}),
		forward: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_forward_auth_decisions_total",
			Help: "Forward-auth checks by rule (its 0-based index in ACCESS_RULES, or default), policy and decision (allow, login, second_factor, setup_second_factor, deny).",
		}, []string{"rule", "policy", "decision"}),
	}
	m.oidcTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_oidc_tokens_total",
		Help: "OpenID provider token requests by grant (code, refresh) and outcome (issued, refused, reuse: a spent code or refresh token presented again).",
	}, []string{"grant", "outcome"})
	m.reg.MustRegister(m.forward, m.requests, m.logins, m.events, m.throttleRefused, m.hashWait, m.outboxFailures,
		m.sessionsCreated, m.sessionsEnded, m.oidcTokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request records one finished request under its route pattern.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if status < 100 || status > 999 {
		status = 0 // one series, "other"
	}
	k := requestKey{route, MethodLabel(method), status}
	o, ok := m.requestSeries.Load(k)
	if !ok {
		o, _ = m.requestSeries.LoadOrStore(k, m.requests.WithLabelValues(k.route, k.method, statusLabel(status)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// requestKey names one series of the request histogram. The series of
// each key is looked up once and kept (requestSeries): a lookup by label
// values hashes the three strings, takes the vector's lock and formats
// the status on every request. The keys are as bounded as the series:
// route patterns of the table, known methods, three-digit statuses.
type requestKey struct {
	route, method string
	status        int
}

// MethodLabel is the method as a label value: one of the methods HTTP
// defines, else "OTHER" (as promhttp does), so a client cannot make a new
// series, and keep it in memory for good, by sending a method of its own.
func MethodLabel(method string) string {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE":
		return method
	}
	return "OTHER"
}

// statusLabel bounds the status label to three-digit codes.
func statusLabel(status int) string {
	if status < 100 || status > 999 {
		return "other"
	}
	return strconv.Itoa(status)
}

// Login records a login attempt's outcome (one of the Login constants).
func (m *Metrics) Login(outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(outcome).Inc()
}

// SecurityEvent records a security event of kind.
func (m *Metrics) SecurityEvent(kind string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(kind).Inc()
}

// ThrottleRefused records a request refused by the named limit.
func (m *Metrics) ThrottleRefused(limit string) {
	if m == nil {
		return
	}
	m.throttleRefused.WithLabelValues(limit).Inc()
}

// OIDCToken records a token request of grant ("code" or "refresh") with
// outcome (one of the OIDC constants).
func (m *Metrics) OIDCToken(grant, outcome string) {
	if m == nil {
		return
	}
	m.oidcTokens.WithLabelValues(grant, outcome).Inc()
}

// OutboxFailed records an e-mail delivery attempt that failed.
func (m *Metrics) OutboxFailed() {
	if m == nil {
		return
	}
	m.outboxFailures.Inc()
}

// HashSlots is what WatchHasher needs from the password hasher.
type HashSlots interface {
	// SlotsInUse and Slots report the hashing slots taken now and in all.
	SlotsInUse() int
	Slots() int
	// ObserveWait has f told how long each hash waited for a slot.
	ObserveWait(f func(time.Duration))
}

// WatchHasher exports the hasher's slots in use and its waits.
func (m *Metrics) WatchHasher(h HashSlots) {
	if m == nil || h == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_hash_slots_in_use", Help: "Password hashes running now.",
		}, func() float64 { return float64(h.SlotsInUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_hash_slots", Help: "Password hashes allowed at once (HASH_CONCURRENCY).",
		}, func() float64 { return float64(h.Slots()) }),
	)
	h.ObserveWait(func(d time.Duration) { m.hashWait.Observe(d.Seconds()) })
}

// WatchOutbox exports the outbox's state, read once per scrape through
// stats with a short timeout: gatehouse_outbox_depth (e-mails waiting to
// be sent) and gatehouse_outbox_failed (e-mails that failed for good and
// wait for someone to send them again), so an alert can fire on a stuck
// outbox. A failed read reports -1 for both.
func (m *Metrics) WatchOutbox(stats func(context.Context) (waiting, failed int, err error)) {
	if m == nil || stats == nil {
		return
	}
	m.reg.MustRegister(&outboxCollector{stats: stats,
		depth:  prometheus.NewDesc("gatehouse_outbox_depth", "E-mails waiting in the outbox (-1: could not be read).", nil, nil),
		failed: prometheus.NewDesc("gatehouse_outbox_failed", "E-mails that failed for good, until sent again (-1: could not be read).", nil, nil),
	})
}

// outboxCollector reads both outbox gauges with one call per scrape.
type outboxCollector struct {
	stats         func(context.Context) (int, int, error)
	depth, failed *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.failed }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	waiting, failed, err := c.stats(ctx)
	if err != nil {
		waiting, failed = -1, -1
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(waiting))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(failed))
}

// WatchDB exports the connection pool's statistics and counts session rows
// created and deleted (through GORM callbacks on the sessions table, so the
// session code needs no calls of its own).
func (m *Metrics) WatchDB(db *gorm.DB) error {
	if m == nil {
		return nil
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	m.reg.MustRegister(collectors.NewDBStatsCollector(sqlDB, "gatehouse"))
	count := func(c prometheus.Counter) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if tx.Error == nil && tx.Statement.Table == "sessions" && tx.RowsAffected > 0 {
				c.Add(float64(tx.RowsAffected))
			}
		}
	}
	if err := db.Callback().Create().After("gorm:create").Register("metrics:sessions_created", count(m.sessionsCreated)); err != nil {
		return err
	}
	return db.Callback().Delete().After("gorm:delete").Register("metrics:sessions_ended", count(m.sessionsEnded))
}

// maxRuleLabel bounds the rule label: rules past it share "other", so a
// huge rules file cannot grow the series without bound.
const maxRuleLabel = 100

// ForwardDecision records one forward-auth check: rule is the deciding
// rule's index (-1 for default_policy), policy and decision short words.
func (m *Metrics) ForwardDecision(rule int, policy, decision string) {
	if m == nil {
		return
	}
	label := "default"
	switch {
	case rule >= maxRuleLabel:
		label = "other"
	case rule >= 0:
		label = strconv.Itoa(rule)
	}
	m.forward.WithLabelValues(label, policy, decision).Inc()
}
