package components

import (
	"context"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/route"
	"net/url"
	"strconv"
	"time"
)

// AdminUserQuery is the user list's state as the URL carries it: search,
// filters ("yes", "no" or ""), sort ("username", "-date_joined" …) and page.
type AdminUserQuery struct {
	Q, Active, Staff, Superuser, Sort string
	// Legacy filters on a legacy (imported, not yet upgraded) password hash.
	Legacy string
	Page   int
}

// Values is the query as URL parameters, empty ones left out.
func (q AdminUserQuery) Values() url.Values {
	v := url.Values{}
	for _, p := range [][2]string{{"q", q.Q}, {"active", q.Active}, {"staff", q.Staff}, {"superuser", q.Superuser}, {"legacy", q.Legacy}, {"sort", q.Sort}} {
		if p[1] != "" {
			v.Set(p[0], p[1])
		}
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// URL is the list's address for this query.
func (q AdminUserQuery) URL() string {
	if enc := q.Values().Encode(); enc != "" {
		return AdminUsersURL + "?" + enc
	}
	return AdminUsersURL
}

// AdminUsersURL is the user list's address.
var AdminUsersURL = route.URL(route.AdminUsers)

// AdminUserList is one page of the user list.
type AdminUserList struct {
	Query AdminUserQuery
	// DefaultSort is the sort used when Query.Sort is empty.
	DefaultSort string
	Rows        []AdminUserRow
	Total       int64
	Page, Pages int
	// CanAdd shows the "add user" link.
	CanAdd bool
}

// AdminUserRow is one user in the list.
type AdminUserRow struct {
	ID                             uint
	Username, Email                string
	IsActive, IsStaff, IsSuperuser bool
	DateJoined                     time.Time
	LastLogin                      *time.Time
	// HashAlgorithm names the password hash's format ("argon2id",
	// "pbkdf2_sha256" …), never the hash; LegacyHash: an imported hash the
	// next login upgrades.
	HashAlgorithm string
	LegacyHash    bool
	// SharedEmail marks an address another account also had when
	// addresses became unique: kept, but not used to find this account.
	SharedEmail bool
	// EmailVerified: the address was confirmed (or counts as such).
	EmailVerified bool
}

// emailHelp explains, on the admin form, an address that does not
// identify the account.
func (r AdminUserRow) emailHelp(ctx context.Context) string {
	if !r.SharedEmail {
		return ""
	}
	return T(ctx, i18n.Message{ID: "admin.shared_email_help", Other: "This address was shared with another account when addresses became unique; it is kept but not used for password resets. Give this account an address of its own."})
}

// pageURL is the list's address at page n, the rest unchanged.
func (l AdminUserList) pageURL(n int) string {
	q := l.Query
	q.Page = n
	return q.URL()
}

// sortURL is the list's address sorted by col: ascending, or descending
// when it is already sorted ascending by col. The page goes back to 1.
func (l AdminUserList) sortURL(col string) string {
	q := l.Query
	q.Page = 0
	if l.currentSort() == col {
		q.Sort = "-" + col
	} else {
		q.Sort = col
	}
	return q.URL()
}

func (l AdminUserList) currentSort() string {
	if l.Query.Sort == "" {
		return l.DefaultSort
	}
	return l.Query.Sort
}

// ariaSort is the aria-sort value of a column header.
func (l AdminUserList) ariaSort(col string) string {
	switch l.currentSort() {
	case col:
		return "ascending"
	case "-" + col:
		return "descending"
	}
	return "none"
}

// AdminUserDetail is the user page.
type AdminUserDetail struct {
	User AdminUserRow
	// IsSelf: the page is the viewer's own account.
	IsSelf bool
	// CanManage: the viewer may change this account (superuser accounts
	// only by superusers); CanGrant: the viewer may change privileges.
	CanManage, CanGrant bool
	Form                Form
	Sessions            []AdminSession
	Events              []AdminEvent
	// Identities are the account's sign-ins through other providers;
	// HasPassword says whether it has a usable password.
	Identities  []Connection
	HasPassword bool
	// Groups are every group, ticked where the user is a member (only
	// superusers, CanGrant, change them).
	Groups []GroupChoice
	// TwoFactor says the account's factors in words ("Off", "Authenticator
	// app, 2 passkeys, 8 recovery codes left").
	TwoFactor string
}

// AdminSession is one active session as the admin shows it; PublicID is a
// digest of the row ID, never the cookie token.
type AdminSession struct {
	PublicID            string
	CreatedAt, LastSeen time.Time
	IP, UserAgent       string
	// Browser names the browser and system in words (UserAgent is kept
	// for the tooltip).
	Browser string
	// Current: this is the viewer's own current session.
	Current bool
	// Method and Provider say how it signed in (as SessionRow's).
	Method, Provider string
}

// AdminEvent is one security-log entry on the user page.
type AdminEvent struct {
	When time.Time
	// Kind is the event's kind; Words say it for people.
	Kind, Words, Actor, IP, Detail string
}

// AdminAddUser is the add-user page.
type AdminAddUser struct {
	Form     Form
	CanGrant bool
}

func userURL(id uint) string { return route.URL(route.AdminUser, id) }

// plural64 says "1 user" or "3 users".
func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// Plural says "1 passkey" or "3 passkeys".
func Plural(n int, one, many string) string { return plural64(int64(n), one, many) }
