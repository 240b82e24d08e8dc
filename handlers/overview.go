package handlers

// The staff security overview (/admin/) and the event list behind it
// (/admin/events/). The overview runs a fixed number of grouped queries per
// view, whatever the number of events: a histogram per window, and a top
// list of accounts and of addresses per window. Every number it shows links
// to the list filtered to exactly the events it counts (same kinds, same
// time range), so staff can go from "many failures at 03:00" to the rows.
// Queries use the event's kind, account ID, address and time only.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// eventGroup is a named set of event kinds: one chart, or an event filter.
type eventGroup struct {
	key   string
	label i18n.Message
	kinds []models.EventKind
}

// overviewGroups are the charts, in order.
var overviewGroups = []eventGroup{
	{"signins", i18n.Message{ID: "overview.group.signins", Other: "Sign-ins"}, []models.EventKind{models.EventLoginSucceeded}},
	{"failures", i18n.Message{ID: "overview.group.failures", Other: "Failed sign-ins"}, []models.EventKind{models.EventLoginFailed}},
	{"throttled", i18n.Message{ID: "overview.group.throttled", Other: "Throttled attempts"}, []models.EventKind{models.EventLoginThrottled, models.EventSignupThrottled, models.EventResetThrottled}},
	{"resets", i18n.Message{ID: "overview.group.resets", Other: "Password resets requested"}, []models.EventKind{models.EventResetRequested}},
	{"signups", i18n.Message{ID: "overview.group.signups", Other: "New accounts"}, []models.EventKind{models.EventSignup, models.EventUserCreated}},
}

// attackGroup is what the top lists rank: failed and throttled sign-ins.
var attackGroup = eventGroup{"attacks", i18n.Message{ID: "overview.group.attacks", Other: "Failed or throttled sign-ins"}, []models.EventKind{models.EventLoginFailed, models.EventLoginThrottled}}

// eventPeriods are the event filter's "since" choices.
var eventPeriods = []components.Choice{{Value: "1h", Label: "Last hour"}, {Value: "24h", Label: "Last 24 hours"},
	{Value: "7d", Label: "Last 7 days"}, {Value: "30d", Label: "Last 30 days"}}

// eventFilterForm is the event list's filter form with the values of the
// request (already validated by parseEventFilter).
func eventFilterForm(c *gin.Context) components.EventFilterForm {
	f := components.EventFilterForm{Periods: eventPeriods, Kind: c.Query("kind"), Since: c.Query("since"),
		IP: c.Query("ip"), User: c.Query("user"), Until: c.Query("until")}
	for _, g := range append(overviewGroups, attackGroup) {
		f.Kinds = append(f.Kinds, components.Choice{Value: g.key, Label: tr(c, g.label)})
	}
	for _, e := range models.EventKinds {
		f.Kinds = append(f.Kinds, components.Choice{Value: string(e.Kind), Label: tr(c, e.Words)})
	}
	// A "since" from a chart link (a time, or a period not offered) stays
	// selectable as it came.
	known := f.Since == ""
	for _, p := range eventPeriods {
		known = known || p.Value == f.Since
	}
	if !known {
		f.Periods = append([]components.Choice{{Value: f.Since, Label: "Since " + f.Since}}, f.Periods...)
	}
	return f
}

// eventKindsFor resolves the kind filter: a group name or one event kind.
func eventKindsFor(key string) (eventGroup, bool) {
	for _, g := range append(overviewGroups, attackGroup) {
		if g.key == key {
			return g, true
		}
	}
	if k, ok := models.KnownEventKind(key); ok {
		return eventGroup{key, models.EventWordsMessage(k), []models.EventKind{k}}, true
	}
	return eventGroup{}, false
}

// overviewWindow is one period of the overview: n buckets of step ending
// with the current one.
type overviewWindow struct {
	id    string
	title i18n.Message
	step  time.Duration
	n     int
}

var overviewWindows = []overviewWindow{
	{"24h", i18n.Message{ID: "overview.window.24h", Other: "Last 24 hours (by hour, UTC)"}, time.Hour, 24},
	{"30d", i18n.Message{ID: "overview.window.30d", Other: "Last 30 days (by day, UTC)"}, 24 * time.Hour, 30},
}

const (
	chartWidth, chartHeight = 240, 48
	topLimit                = 10
	eventsPerPage           = 50
)

// eventsURL is the event list filtered to kinds (a group key), [since,
// until) and optionally an account or address.
func eventsURL(kind string, since, until time.Time, userID uint, ip string) string {
	v := url.Values{}
	if kind != "" {
		v.Set("kind", kind)
	}
	if !since.IsZero() {
		v.Set("since", since.UTC().Format(time.RFC3339))
	}
	if !until.IsZero() {
		v.Set("until", until.UTC().Format(time.RFC3339))
	}
	if userID != 0 {
		v.Set("user", strconv.FormatUint(uint64(userID), 10))
	}
	if ip != "" {
		v.Set("ip", ip)
	}
	return components.AdminEventsURL + "?" + v.Encode()
}

func (h *adminPages) adminOverviewPage(c *gin.Context) {
	ctx := c.Request.Context()
	now := time.Now().UTC()
	var kinds []models.EventKind
	for _, g := range overviewGroups {
		kinds = append(kinds, g.kinds...)
	}
	var o components.AdminOverview
	for _, w := range overviewWindows {
		since := now.Truncate(w.step).Add(-time.Duration(w.n-1) * w.step)
		hist, err := h.events.Histogram(ctx, kinds, since, w.step, w.n)
		if err != nil {
			h.dbError(c, "overview histogram", err)
			return
		}
		ow := components.OverviewWindow{ID: w.id, Title: tr(c, w.title)}
		for _, g := range overviewGroups {
			ow.Series = append(ow.Series, chartSeries(ctx, g, hist, since, w))
		}
		accounts, err := h.events.TopAccounts(ctx, attackGroup.kinds, since, topLimit)
		if err != nil {
			h.dbError(c, "overview top accounts", err)
			return
		}
		ids := make([]uint, 0, len(accounts))
		for _, a := range accounts {
			ids = append(ids, a.UserID)
		}
		names, err := h.events.Usernames(ctx, ids)
		if err != nil {
			h.dbError(c, "overview usernames", err)
			return
		}
		for _, a := range accounts {
			row := components.OverviewTop{N: a.N, URL: eventsURL(attackGroup.key, since, time.Time{}, a.UserID, "")}
			if name, ok := names[a.UserID]; ok {
				row.Label, row.AccountURL = name, route.URL(route.AdminUser, a.UserID)
			} else {
				row.Label = tr(c, i18n.Message{ID: "overview.deleted_account", Other: "#{{.ID}} (deleted)"}, map[string]any{"ID": a.UserID})
			}
			ow.TopAccounts = append(ow.TopAccounts, row)
		}
		addrs, err := h.events.TopAddresses(ctx, attackGroup.kinds, since, topLimit)
		if err != nil {
			h.dbError(c, "overview top addresses", err)
			return
		}
		for _, a := range addrs {
			ow.TopAddresses = append(ow.TopAddresses, components.OverviewTop{Label: a.IP, N: a.N,
				URL: eventsURL(attackGroup.key, since, time.Time{}, 0, a.IP)})
		}
		o.Windows = append(o.Windows, ow)
	}
	var err error
	if o.FailedMail, o.FailedTotal, err = h.failedMail(ctx); err != nil {
		h.dbError(c, "overview failed mail", err)
		return
	}
	h.render(c, http.StatusOK, components.AdminOverviewPage(h.page(c, tr(c, i18n.Message{ID: "title.security_overview", Other: "Security overview"})), o))
}

// failedMailShown bounds the failed-mail list on the overview; the count
// and `gatehouse outbox list --failed` give the rest.
const failedMailShown = 20

// failedMail is the overview's list of mail that failed for good (no body,
// no link) and how many there are.
func (h *adminPages) failedMail(ctx context.Context) ([]components.FailedMailRow, int64, error) {
	rows, err := h.outbox.List(ctx, true, failedMailShown)
	if err != nil {
		return nil, 0, err
	}
	stats, err := h.outbox.Stats(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := make([]components.FailedMailRow, 0, len(rows))
	for _, m := range rows {
		r := components.FailedMailRow{ID: m.ID, Kind: m.Kind, Recipient: m.Recipient, Attempts: m.Attempts,
			LastError: m.LastError, RetryURL: route.URL(route.AdminMailRetry, m.ID)}
		if m.FailedAt != nil {
			r.FailedAt = locale.From(ctx).DateTime(*m.FailedAt)
		}
		out = append(out, r)
	}
	return out, stats.Failed, nil
}

// adminMailRetrySubmit puts a failed mail back in the queue ("Send
// again"; sudo): the worker sends it now.
func (h *adminPages) adminMailRetrySubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		h.errorResponse(c, http.StatusNotFound)
		return
	}
	sent, err := h.accounts.AdminRetryMail(c.Request.Context(), currentUser(c).ID, uint(id))
	switch {
	case errors.Is(err, auth.ErrNotAllowed):
		h.errorResponse(c, http.StatusForbidden)
		return
	case err != nil:
		h.dbError(c, "retry mail", err)
		return
	case sent:
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.mail_requeued", Other: "Message {{.ID}} is queued again and will be sent now."}, map[string]any{"ID": id}))
	default:
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.mail_not_requeued", Other: "Message {{.ID}} is not waiting to be sent again (already sent, queued or gone)."}, map[string]any{"ID": id}))
	}
	h.redirect(c, components.AdminOverviewURL)
}

// chartSeries lays out one group's bars: heights scaled to the largest
// bucket, a bar of at least 1 unit for any non-zero count.
func chartSeries(ctx context.Context, g eventGroup, hist map[models.EventKind][]int64, since time.Time, w overviewWindow) components.OverviewSeries {
	counts := make([]int64, w.n)
	for _, k := range g.kinds {
		for i, n := range hist[k] {
			counts[i] += n
		}
	}
	s := components.OverviewSeries{Key: g.key, Label: ctxT(ctx, g.label), Width: chartWidth, Height: chartHeight,
		TotalURL: eventsURL(g.key, since, time.Time{}, 0, "")}
	var peak int64
	for _, n := range counts {
		s.Total += n
		peak = max(peak, n)
	}
	slot := chartWidth / w.n
	utc := locale.From(ctx).In(time.UTC)
	format := utc.DateTime
	if w.step >= 24*time.Hour {
		format = utc.Date
	}
	for i, n := range counts {
		from := since.Add(time.Duration(i) * w.step)
		bh := 0
		if peak > 0 && n > 0 {
			bh = max(1, int(n*int64(chartHeight-2)/peak))
		}
		s.Bars = append(s.Bars, components.OverviewBar{
			X: i*slot + 1, Y: chartHeight - 1 - bh, W: max(1, slot-2), H: bh, N: n,
			Title: ctxT(ctx, i18n.Message{ID: "overview.bar_title", Other: "{{.Label}} from {{.From}}: {{.Count}}"},
				map[string]any{"Label": s.Label, "From": format(from), "Count": n}),
			URL: eventsURL(g.key, from, from.Add(w.step), 0, ""),
		})
	}
	return s
}

// badFilter names an event-list parameter that could not be read (400).
type badFilter string

// parseEventFilter reads the event list's query: kind (a group or a kind),
// since and until (RFC 3339, or since as a duration back from now: 24h,
// 30d), user (an account ID), ip, page.
func parseEventFilter(c *gin.Context, now time.Time) (models.EventFilter, []string, int, badFilter) {
	var f models.EventFilter
	var words []string
	if k := c.Query("kind"); k != "" {
		g, ok := eventKindsFor(k)
		if !ok {
			return f, nil, 0, "kind"
		}
		f.Kinds = g.kinds
		words = append(words, tr(c, g.label))
	}
	if s := c.Query("since"); s != "" {
		t, ok := parseSince(s, now)
		if !ok {
			return f, nil, 0, "since"
		}
		f.Since = t
		words = append(words, tr(c, i18n.Message{ID: "overview.filter.since", Other: "since {{.Time}}"}, map[string]any{"Time": locale.From(c.Request.Context()).DateTime(t)}))
	}
	if s := c.Query("until"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, nil, 0, "until"
		}
		f.Until = t.UTC()
		words = append(words, tr(c, i18n.Message{ID: "overview.filter.until", Other: "before {{.Time}}"}, map[string]any{"Time": locale.From(c.Request.Context()).DateTime(f.Until)}))
	}
	if s := c.Query("user"); s != "" {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil || id == 0 {
			return f, nil, 0, "user"
		}
		uid := uint(id)
		f.UserID = &uid
		words = append(words, tr(c, i18n.Message{ID: "overview.filter.user", Other: "account #{{.ID}}"}, map[string]any{"ID": s}))
	}
	if s := c.Query("ip"); s != "" {
		if len(s) > 64 || net.ParseIP(s) == nil {
			return f, nil, 0, "ip"
		}
		f.IP = s
		words = append(words, tr(c, i18n.Message{ID: "overview.filter.ip", Other: "from {{.IP}}"}, map[string]any{"IP": s}))
	}
	page := 1
	if s := c.Query("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return f, nil, 0, "page"
		}
		page = n
	}
	return f, words, page, ""
}

// parseSince accepts an RFC 3339 time or a period back from now (a Go
// duration, or days: "30d"), at most about 13 months.
func parseSince(s string, now time.Time) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return time.Time{}, false
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, false
		}
	}
	if d <= 0 || d > 400*24*time.Hour {
		return time.Time{}, false
	}
	return now.Add(-d), true
}

func (h *adminPages) adminEventsPage(c *gin.Context) {
	ctx := c.Request.Context()
	f, words, page, bad := parseEventFilter(c, time.Now().UTC())
	if bad != "" {
		h.log.Info("event list: bad filter", "param", string(bad))
		h.errorResponse(c, http.StatusBadRequest)
		return
	}
	rows, total, err := h.events.List(ctx, f, (page-1)*eventsPerPage, eventsPerPage)
	if err != nil {
		h.dbError(c, "list events", err)
		return
	}
	var ids []uint
	for _, r := range rows {
		if r.UserID != nil {
			ids = append(ids, *r.UserID)
		}
	}
	names, err := h.events.Usernames(ctx, ids)
	if err != nil {
		h.dbError(c, "event usernames", err)
		return
	}
	l := components.AdminEventList{Filters: words, Total: total, Page: page,
		Pages: max(1, int((total+eventsPerPage-1)/eventsPerPage))}
	for _, r := range rows {
		row := components.AdminEventRow{Time: locale.From(ctx).DateTime(r.CreatedAt), Kind: string(r.Kind),
			Words: models.EventWords(ctx, r.Kind), IP: r.IP, Detail: models.EventDetail(ctx, &r)}
		if r.IP != "" {
			row.IPURL = eventsURL("", time.Time{}, time.Time{}, 0, r.IP)
		}
		if r.UserID != nil {
			if name, ok := names[*r.UserID]; ok {
				row.Account, row.AccountURL = name, route.URL(route.AdminUser, *r.UserID)
			} else {
				row.Account = fmt.Sprintf("#%d", *r.UserID)
			}
		}
		l.Rows = append(l.Rows, row)
	}
	pageURL := func(n int) string {
		q := c.Request.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return components.AdminEventsURL + "?" + q.Encode()
	}
	if page > 1 {
		l.PrevURL = pageURL(page - 1)
	}
	if page < l.Pages {
		l.NextURL = pageURL(page + 1)
	}
	l.Form = eventFilterForm(c)
	h.render(c, http.StatusOK, components.AdminEventsPage(h.page(c, tr(c, i18n.Message{ID: "title.security_events", Other: "Security events"})), l))
}
