package models

import (
	"context"
	"gatehouse/internal/validate"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Tristate is a yes / no / any filter on a boolean column.
type Tristate uint8

// The values of a Tristate filter.
const (
	Any Tristate = iota
	Yes
	No
)

// ParseTristate reads "yes", "no" or anything else (any).
func ParseTristate(s string) Tristate {
	switch s {
	case "yes":
		return Yes
	case "no":
		return No
	}
	return Any
}

// String is the form value of t: "yes", "no" or "".
func (t Tristate) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return ""
}

// UserSort names a column the user list can be ordered by. Only the values
// declared here reach SQL: the ORDER BY clause comes from a fixed table, never
// from the request.
type UserSort string

// The sortable columns of the user list.
const (
	SortUsername   UserSort = "username"
	SortDateJoined UserSort = "date_joined"
	SortLastLogin  UserSort = "last_login"
)

// orderClauses maps each sort and direction to its ORDER BY. Ties are broken
// by id so pages are stable. last_login is NULL for users who never logged
// in; SQLite sorts NULLs first ascending, which reads as "never" first.
var orderClauses = map[UserSort][2]string{
	SortUsername:   {"username_key ASC", "username_key DESC"},
	SortDateJoined: {"date_joined ASC, id ASC", "date_joined DESC, id DESC"},
	SortLastLogin:  {"last_login ASC, id ASC", "last_login DESC, id DESC"},
}

// ParseUserSort reads a sort parameter such as "username" or "-date_joined"
// (a leading minus means descending). Unknown names give the default, the
// username ascending.
func ParseUserSort(s string) (UserSort, bool) {
	desc := strings.HasPrefix(s, "-")
	col := UserSort(strings.TrimPrefix(s, "-"))
	if _, ok := orderClauses[col]; !ok {
		return SortUsername, false
	}
	return col, desc
}

// Limits of the user list.
const (
	DefaultPerPage = 50
	MaxPerPage     = 200
	// MaxSearchLen bounds the search text: no username or address is
	// longer, and a huge prefix only costs work.
	MaxSearchLen = 254
)

// UserQuery selects a page of the user list.
type UserQuery struct {
	// Search matches the start of the username or the e-mail address,
	// case-insensitively (by their folded keys).
	Search                   string
	Active, Staff, Superuser Tristate
	// LegacyHash filters on IsLegacyHash: Yes lists the users whose
	// password hash is still an imported (Django) one.
	LegacyHash    Tristate
	Sort          UserSort
	Desc          bool
	Page, PerPage int
}

// UserList is one page of users and the size of the whole result.
type UserList struct {
	Users   []User
	Total   int64
	Page    int
	Pages   int
	PerPage int
}

// List returns a page of users matching q, with the total count.
//
// Every path is index-driven (see TestUserListQueryPlans): the search is a
// range on the folded keys (username_key, email_key), whose indexes give the
// matching IDs without touching the table; sorting walks the sort column's
// index; a page is picked from the ordered IDs first (the offset is skipped
// inside the index, which holds the rowid) and only its rows are read.
func (u *Users) List(ctx context.Context, q UserQuery) (*UserList, error) {
	if q.PerPage <= 0 || q.PerPage > MaxPerPage {
		q.PerPage = DefaultPerPage
	}
	if q.Page < 1 {
		q.Page = 1
	}
	if _, ok := orderClauses[q.Sort]; !ok {
		q.Sort = SortUsername
	}
	db := u.db.WithContext(ctx)
	var total int64
	if err := u.filtered(db, q).Count(&total).Error; err != nil {
		return nil, dbErr("count users", err)
	}
	pages := int((total + int64(q.PerPage) - 1) / int64(q.PerPage))
	if pages < 1 {
		pages = 1
	}
	if q.Page > pages {
		q.Page = pages
	}
	order := orderClauses[q.Sort][0]
	if q.Desc {
		order = orderClauses[q.Sort][1]
	}
	list := &UserList{Total: total, Page: q.Page, Pages: pages, PerPage: q.PerPage}
	if total == 0 {
		return list, nil
	}
	// The page's IDs come from the index alone (a covering scan), then the
	// full rows of those IDs only: a deep OFFSET does not read skipped rows.
	ids := u.filtered(db, q).Select("id").Order(order).
		Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage)
	err := db.Where("id IN (?)", ids).Order(order).Find(&list.Users).Error
	if err != nil {
		return nil, dbErr("list users", err)
	}
	return list, nil
}

// filtered is the users matching q's search and filters, without order.
func (u *Users) filtered(db *gorm.DB, q UserQuery) *gorm.DB {
	tx := db.Model(&User{})
	if s := strings.TrimSpace(q.Search); s != "" {
		if len(s) > MaxSearchLen*4 {
			s = s[:MaxSearchLen*4]
		}
		s = strings.ToValidUTF8(s, "")
		if dialectOf(db) == dialectPostgres {
			// PostgreSQL ORs the two index ranges in one bitmap scan; the
			// UNION below costs it a hash of every matching ID.
			sql, args := prefixCond(s)
			tx = tx.Where(sql, args...)
		} else {
			tx = tx.Where("id IN (?)", prefixIDs(db, s))
		}
	}
	// A flag's rare value (inactive, staff, superuser) is compared with "="
	// so its index finds the few rows; the common value with "<>", which no
	// index serves, so the planner walks the sort column's index and skips
	// the few that differ instead of sorting nearly the whole table.
	for _, f := range []struct {
		col  string
		v    Tristate
		rare bool
	}{{"is_active", q.Active, false}, {"is_staff", q.Staff, true}, {"is_superuser", q.Superuser, true}} {
		switch {
		case f.v == Any:
		case (f.v == Yes) == f.rare:
			tx = tx.Where(f.col+" = ?", f.rare)
		default:
			tx = tx.Where(f.col+" <> ?", f.rare)
		}
	}
	// "Yes" can read the partial index idx_users_legacy_hash; "No" (the
	// users already on argon2id, nearly everyone) reads every row's
	// password, milliseconds for 100k users: an operator's occasional look.
	switch q.LegacyHash {
	case Yes:
		tx = tx.Where(legacyHashSQL)
	case No:
		tx = tx.Where("NOT (" + legacyHashSQL + ")")
	}
	return tx
}

// prefixIDs is the IDs of users whose username or e-mail starts with s in
// any letter case. It is a union of two range scans on the folded keys'
// indexes, not LIKE: LIKE folds ASCII only in SQLite and uses an index only
// under case_sensitive_like, while a range [key, next) on the folded key is
// exact for every script, needs no escaping of % and _, and is portable SQL
// (on PostgreSQL the key columns need COLLATE "C" for byte order).
func prefixIDs(db *gorm.DB, s string) *gorm.DB {
	sql, args := prefixRanges(s, " UNION SELECT id FROM users WHERE ")
	return db.Raw("SELECT id FROM users WHERE "+sql, args...)
}

// prefixCond is prefixIDs as one condition on the users table.
func prefixCond(s string) (string, []any) {
	sql, args := prefixRanges(s, ") OR (")
	return "(" + sql + ")", args
}

// prefixRanges is the username_key range and the email_key range for
// prefix s, joined by sep.
func prefixRanges(s, sep string) (string, []any) {
	var args []any
	cond := func(col, prefix string) string {
		args = append(args, prefix)
		end, ok := prefixEnd(prefix)
		if !ok {
			return col + " >= ?"
		}
		args = append(args, end)
		return col + " >= ? AND " + col + " < ?"
	}
	sql := cond("username_key", validate.UsernameKey(s)) + sep + cond("email_key", validate.EmailKey(s))
	return sql, args
}

// prefixEnd returns the least string greater than every string that starts
// with p: p with its last rune incremented (UTF-8 byte order is code point
// order, and SQLite's BINARY collation compares bytes). A last rune that
// cannot be incremented is dropped and the one before it incremented; ok is
// false when no bound exists (every rune is the maximum).
func prefixEnd(p string) (string, bool) {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		switch {
		case r == utf8.RuneError && size <= 1:
			continue // not valid UTF-8: drop it and widen the range
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF:
			r = 0xE000 // skip the surrogates, which UTF-8 cannot hold
		default:
			r++
		}
		return p + string(r), true
	}
	return "", false
}

// CountActiveSuperusers counts the accounts that can administer the site.
func (u *Users) CountActiveSuperusers(ctx context.Context) (int64, error) {
	return CountActiveSuperusers(u.db.WithContext(ctx))
}

func CountActiveSuperusers(tx *gorm.DB) (int64, error) {
	var n int64
	err := tx.Model(&User{}).Where("is_superuser = ? AND is_active = ?", true, true).Count(&n).Error
	return n, err
}

// UsernamesByID returns the usernames of the given IDs (missing IDs, such as
// deleted users, are absent), for showing who did what in the security log.
func (u *Users) UsernamesByID(ctx context.Context, ids []uint) (map[uint]string, error) {
	out := make(map[uint]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID       uint
		Username string
	}
	err := u.db.WithContext(ctx).Model(&User{}).Select("id, username").Where("id IN ?", ids).Find(&rows).Error
	if err != nil {
		return nil, dbErr("load usernames", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Username
	}
	return out, nil
}

// legacyHashSQL is IsLegacyHash as an SQL condition on users.password, for
// the admin's "legacy hash" filter and the legacy dummy's refresh. '$' and
// '!' are not LIKE wildcards. The partial index idx_users_legacy_hash
// (migration 00095) has this condition word for word: the planners use it
// only for a query that states it so, with constants, not parameters.
const legacyHashSQL = "password NOT LIKE '$argon2id$%' AND password <> '' AND password NOT LIKE '!%'"
