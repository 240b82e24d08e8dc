package components

import "gatehouse/internal/route"

// AdminOverviewURL is the security overview, the admin's front page;
// AdminEventsURL the filtered security-event list every number links to.
var (
	AdminOverviewURL = route.URL(route.AdminIndex)
	AdminEventsURL   = route.URL(route.AdminEvents)
)

// AdminOverview is the staff security overview: per time window, a small
// bar chart per series and the most attacked accounts and addresses.
type AdminOverview struct {
	Windows []OverviewWindow
	// FailedMail is mail that failed for good (newest first, at most a
	// page), FailedTotal how many there are in all.
	FailedMail  []FailedMailRow
	FailedTotal int64
}

// FailedMailRow is one failed message as staff see it: never its body or
// link.
type FailedMailRow struct {
	ID                        uint
	Kind, Recipient, FailedAt string
	Attempts                  int
	LastError, RetryURL       string
}

// OverviewWindow is one period (the last 24 hours, the last 30 days).
type OverviewWindow struct {
	ID, Title    string
	Series       []OverviewSeries
	TopAccounts  []OverviewTop
	TopAddresses []OverviewTop
}

// OverviewSeries is one chart: a total and its bars, every one a link to
// the events it counts.
type OverviewSeries struct {
	Key, Label string
	Total      int64
	TotalURL   string
	// Width and Height are the chart's size in SVG units.
	Width, Height int
	Bars          []OverviewBar
}

// OverviewBar is one bucket of a chart, its geometry computed here so the
// template only places it.
type OverviewBar struct {
	X, Y, W, H int
	N          int64
	Title, URL string
}

// OverviewTop is one row of a top list: an account or an address with its
// count of attacks (failed and throttled logins) and the link to them.
type OverviewTop struct {
	Label, URL string
	// AccountURL is the account's admin page ("" for an address or a
	// deleted account).
	AccountURL string
	N          int64
}

// AdminEventList is one page of the filtered security-event list.
type AdminEventList struct {
	// Filters describes the active filters in words.
	Filters []string
	Rows    []AdminEventRow
	Total   int64
	Page    int
	Pages   int
	// PrevURL and NextURL are the neighbouring pages ("" at an end).
	PrevURL, NextURL string
	// Form is the filter form: the choices and the values in use.
	Form EventFilterForm
}

// EventFilterForm is the event list's own filter form.
type EventFilterForm struct {
	// Kinds are the kind choices (groups first, then every kind).
	Kinds []Choice
	// Periods are the "since" choices.
	Periods []Choice
	// Kind, Since, IP are the values in use; User and Until are kept as
	// they came (from a link) in hidden fields.
	Kind, Since, IP, User, Until string
}

// Choice is one option of a select.
type Choice struct{ Value, Label string }

// AdminEventRow is one event in the list.
type AdminEventRow struct {
	// Kind is the event's kind (its filter value); Words say it for people.
	Time, Kind, Words string
	// Account is the account's username ("" when not linked; "#ID" when
	// deleted) and AccountURL its admin page.
	Account, AccountURL string
	IP, IPURL, Detail   string
}
