package websession

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"gatehouse/models"
)

// SQLite's lookup reads a session in six columns instead of twenty-two.
//
// go-sqlite3 (v1.14.22) pays for every column of every query: a cgo call
// for its name (database/sql asks for the names), one for its declared
// type, one for its value's type and one or two for the value, then a Go
// string per text value and a time.Parse per timestamp. That was about
// half of a signed-in request's lookup. So the session's own columns,
// which hold only numbers, timestamps and values from a fixed vocabulary
// (the sign-in method, a hex hash), come as ONE text column that SQLite
// builds (packedSession, its fields joined by packedSep, which no such
// value contains), and the user's rights as one number in it; the
// user's text, which people type, keeps its own columns. The timestamps
// come as the text SQLite stores, so nothing is rounded, and are parsed
// by parseSQLiteTime as the driver parses them.
//
// PostgreSQL (pgx decodes binary columns without such costs) reads the
// plain columns (sessionsUserQuery, scanSession).

// packedSep separates the packed fields: a control character, which none
// of them can hold.
const packedSep = "\x1f"

// The bits of the packed flags field.
const (
	flagPersistent    = 1 << iota // sessions.persistent
	flagUser                      // the session's user row exists
	flagActive                    // users.is_active
	flagStaff                     // users.is_staff
	flagSuperuser                 // users.is_superuser
	flagEmailVerified             // users.email_verified
)

// packedFields are the packed column's fields, in order: SQL expressions
// over the session s and its user u (NULL becomes "").
var packedFields = []string{
	"ifnull(s.user_id, '')",
	"ifnull(s.pending_user_id, '')",
	"(CASE WHEN s.persistent THEN 1 ELSE 0 END) + (CASE WHEN u.id IS NULL THEN 0 ELSE 2" +
		" + (CASE WHEN u.is_active THEN 4 ELSE 0 END) + (CASE WHEN u.is_staff THEN 8 ELSE 0 END)" +
		" + (CASE WHEN u.is_superuser THEN 16 ELSE 0 END) + (CASE WHEN u.email_verified THEN 32 ELSE 0 END) END)",
	"ifnull(s.auth_at, '')",
	"ifnull(s.reauth_at, '')",
	"ifnull(s.pending_at, '')",
	"s.created_at",
	"s.last_seen_at",
	"s.expires_at",
	"s.auth_method",
	"s.reset_hash",
}

// packedUserColumns are the user's columns SQLite's lookup reads beside
// the packed one, in order; with the flags and s.user_id (the user's ID)
// they are every column of models.SessionUser (TestPackedLookupReadsSessionUser).
var packedUserColumns = []string{"username", "email", "language", "time_zone"}

// packedSessionQuery is SQLite's lookup: the unexpired session with the
// given ID, its user and, when groups is their subquery, the user's group
// names. Every column is named "" and every column is an expression
// (SQLite's no-op unary plus where it is a plain column), so the driver
// copies no column name and no declared type.
func packedSessionQuery(groups string) string {
	// Each field in parentheses: || binds tighter than + in SQLite.
	list := []string{"(" + strings.Join(packedFields, ") || '"+packedSep+"' || (") + `) AS ""`, `+s.data AS ""`}
	for _, c := range packedUserColumns {
		list = append(list, "+u."+c+` AS ""`)
	}
	if groups != "" {
		list = append(list, "+"+groups+` AS ""`)
	}
	return "SELECT " + strings.Join(list, ", ") +
		" FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.expires_at > ? LIMIT 1"
}

// scanPacked scans one row of packedSessionQuery; withGroups says it has
// the groups column.
func scanPacked(sc interface{ Scan(...any) error }, withGroups bool) (row loadedSession, err error) {
	// One allocation for the scan targets and for what the state points
	// to (its optional times and IDs, its user).
	v := new(struct {
		packed                              string
		data                                []byte
		username, email, language, timeZone sql.NullString
		groups                              sql.NullString
		dest                                [7]any
		times                               [3]time.Time
		ids                                 [2]uint
		user                                models.SessionUser
	})
	v.dest = [7]any{&v.packed, &v.data, &v.username, &v.email, &v.language, &v.timeZone, &v.groups}
	dest := v.dest[:]
	if !withGroups {
		dest = dest[:len(dest)-1]
	}
	if err = sc.Scan(dest...); err != nil {
		return row, err
	}
	var f [11]string
	rest := v.packed
	for i := range len(f) - 1 {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, packedSep); !ok {
			return row, errPacked
		}
	}
	f[len(f)-1] = rest
	row.Data = v.data
	st := &row.state
	if st.UserID, err = packedID(f[0], &v.ids[0]); err != nil {
		return row, err
	}
	if st.PendingUserID, err = packedID(f[1], &v.ids[1]); err != nil {
		return row, err
	}
	flags, err := strconv.Atoi(f[2])
	if err != nil {
		return row, errPacked
	}
	st.Persistent = flags&flagPersistent != 0
	st.AuthAt, st.ReauthAt, st.PendingAt = packedTime(f[3], &v.times[0]), packedTime(f[4], &v.times[1]), packedTime(f[5], &v.times[2])
	st.CreatedAt, row.lastSeen, st.ExpiresAt = parseSQLiteTime(f[6]), parseSQLiteTime(f[7]), parseSQLiteTime(f[8])
	st.AuthMethod, st.ResetHash = f[9], f[10]
	if flags&flagUser != 0 && st.UserID != nil {
		v.user = models.SessionUser{
			ID: *st.UserID, Username: v.username.String, Email: v.email.String,
			IsActive: flags&flagActive != 0, IsStaff: flags&flagStaff != 0, IsSuperuser: flags&flagSuperuser != 0,
			EmailVerified: flags&flagEmailVerified != 0,
			Language:      v.language.String, TimeZone: v.timeZone.String,
		}
		st.User = &v.user
		st.GroupNames, st.GroupsRead = v.groups.String, withGroups
	}
	return row, nil
}

// errPacked is a packed column that is not what packedSessionQuery
// builds (it cannot happen unless the query and the scan disagree).
var errPacked = errors.New("session lookup: packed column unreadable")

// packedID reads an optional ID into *into and returns into (nil for "").
func packedID(s string, into *uint) (*uint, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, errPacked
	}
	*into = uint(n)
	return into, nil
}

// packedTime reads an optional timestamp into *into and returns into (nil
// for "").
func packedTime(s string, into *time.Time) *time.Time {
	if s == "" {
		return nil
	}
	*into = parseSQLiteTime(s)
	return into
}

// parseSQLiteTime reads a timestamp as SQLite stores it, in UTC, as
// go-sqlite3 reads a timestamp column: by trying the driver's formats in
// order (the first is the one it writes), and a number as Unix seconds, or
// milliseconds when it is that large; what none reads is the zero time, as
// the driver answers.
func parseSQLiteTime(s string) time.Time {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 || n < -1e12 {
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	s = strings.TrimSuffix(s, "Z")
	for _, format := range sqlite3.SQLiteTimestampFormats {
		if t, err := time.ParseInLocation(format, s, time.UTC); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
