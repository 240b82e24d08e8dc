package websession

import (
	"context"
	"database/sql"
	"fmt"
	"gatehouse/models"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Every signed-in request resolves its cookie to a session and the session
// to a user. That is the hot path, so it is one statement (a join, not two
// queries), prepared once, scanned without GORM's reflection. It still runs
// on every request: a revoked or expired session, or a deactivated or
// deleted user, is refused on the very next request, as before.

// userColumns are the users columns the hot-path query reads, in the order
// scanSession scans them: exactly models.SessionUser's (the part of a
// user request handling needs; TestUserColumnsMatchSchema fails when the
// two differ). The password hash, the keys and the dates are not read on
// every request: the flows that need them read the user row themselves.
var userColumns = []string{
	"id", "username", "email", "is_active", "is_staff", "is_superuser", "email_verified",
	"language", "time_zone",
}

// sessionFields are the session's and its user's columns the hot-path
// statements read, in the order scanSession scans them.
var sessionFields = append([]string{"s.id", "s.user_id", "s.auth_at", "s.auth_method", "s.reauth_at",
	"s.pending_user_id", "s.pending_at", "s.persistent", "s.reset_hash", "s.data", "s.created_at",
	"s.last_seen_at", "s.expires_at"}, prefixed("u.", userColumns)...)

func prefixed(p string, list []string) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = p + c
	}
	return out
}

// sessionColumns is the select list of the hot-path statements: the
// session, its user, and the user's group names (forward auth decides on
// them) from a subquery, so one statement answers all three. groups is
// that subquery for the database (models.GroupNamesColumn).
func sessionColumns(groups string) string {
	if groups == "" {
		return "SELECT " + strings.Join(sessionFields, ", ")
	}
	return "SELECT " + strings.Join(sessionFields, ", ") + ", " + groups
}

// sessionsUserQuery is the lookup of n sessions at once, on PostgreSQL (see sessionBatcher); expiry is checked per lookup.
//
// Two things keep its plan what it should be, an index probe per ID and
// per user, once prepared. The user is joined through a LATERAL subquery
// with a LIMIT, which PostgreSQL cannot flatten into a plain join (whose
// plan for a batch of unknown size hash-joins a scan of the whole users
// table). And the IDs are n separate parameters, n from a few fixed sizes
// (lookupBatchSizes), not one array: with an array PostgreSQL plans every
// execution anew (it costs the array as 10 elements and keeps finding a
// plan for the actual few cheaper), which costs more than the lookup.
func sessionsUserQuery(groups string, n int) string {
	return sessionColumns(groups) +
		" FROM sessions s LEFT JOIN LATERAL (SELECT * FROM users WHERE users.id = s.user_id LIMIT 1) u ON true" +
		" WHERE s.id IN (" + strings.Repeat("?, ", n-1) + "?)"
}

// lookupBatchSizes are the sizes of the batched statements; a batch is
// padded to the next size by repeating an ID (the index scan ignores
// repeats). The largest is the most lookups one statement answers.
var lookupBatchSizes = [...]int{1, 2, 4, 8, 16, 32, 64}

// sessionLoader holds the prepared hot-path statements of a store, each
// prepared on first use (models.Prepared).
type sessionLoader struct {
	// one reads a session without its user's groups, oneGroups with.
	one, oneGroups *models.Prepared
	// batch[0] are the batched statements without the groups, batch[1]
	// with them.
	batch [2][len(lookupBatchSizes)]*models.Prepared
}

// newSessionLoader builds db's statements; the groups column is the
// database's group-names subquery.
func newSessionLoader(db *gorm.DB) sessionLoader {
	groups := func(db *gorm.DB) string { return models.GroupNamesColumn(db, "u.id") }
	l := sessionLoader{
		one:       models.NewPrepared(db, func(*gorm.DB) string { return packedSessionQuery("") }),
		oneGroups: models.NewPrepared(db, func(db *gorm.DB) string { return packedSessionQuery(groups(db)) }),
	}
	for b, n := range lookupBatchSizes {
		l.batch[0][b] = models.NewPrepared(db, func(*gorm.DB) string { return sessionsUserQuery("", n) })
		l.batch[1][b] = models.NewPrepared(db, func(db *gorm.DB) string { return sessionsUserQuery(groups(db), n) })
	}
	return l
}

type groupsKey struct{}

// WithGroups marks ctx as a request's that decides on the signed-in
// user's groups (forward auth): its session lookup reads them too
// (SessionState.GroupNames).
func WithGroups(ctx context.Context) context.Context {
	return context.WithValue(ctx, groupsKey{}, true)
}

func wantsGroups(ctx context.Context) bool { return ctx.Value(groupsKey{}) != nil }

// loadedSession is a session row as the hot path reads it: the typed state
// (with its user, nil when anonymous or gone), the flashes and when it was
// last seen.
type loadedSession struct {
	state    models.SessionState
	Data     []byte
	lastSeen time.Time
}

// load returns the unexpired session with row ID id, or found=false.
func (s *SessionStore) load(ctx context.Context, id string, now time.Time) (row loadedSession, found bool, err error) {
	// Only the requests that decide on groups (WithGroups) pay for reading
	// them: the subquery costs a lookup a few µs on SQLite, more on
	// PostgreSQL. There those requests batch among themselves.
	withGroups := wantsGroups(ctx)
	cache := s.cache
	if withGroups {
		cache = s.cacheGroups
	}
	t := cache.Begin()
	if row, ok := cache.Get(t, id); ok && now.Before(row.state.ExpiresAt) {
		return row.clone(), true, nil
	}
	row, found, err = s.read(ctx, id, now, withGroups)
	if found && err == nil {
		cache.Put(t, id, row)
		row = row.clone()
	}
	return row, found, err
}

// maxCachedSessions bounds the sessions kept between two changes of the
// database (a few hundred bytes each); beyond it lookups read the
// database until the next change.
const maxCachedSessions = 10_000

// clone returns r with its own copies of what its state points to: a
// cached row is shared, and a request may change its state.
func (r loadedSession) clone() loadedSession {
	v := new(struct {
		user  models.SessionUser
		times [3]time.Time
		ids   [2]uint
	})
	st := &r.state
	if st.User != nil {
		v.user = *st.User
		st.User = &v.user
	}
	for i, p := range []**time.Time{&st.AuthAt, &st.ReauthAt, &st.PendingAt} {
		if *p != nil {
			v.times[i] = **p
			*p = &v.times[i]
		}
	}
	for i, p := range []**uint{&st.UserID, &st.PendingUserID} {
		if *p != nil {
			v.ids[i] = **p
			*p = &v.ids[i]
		}
	}
	return r
}

// read is load from the database.
func (s *SessionStore) read(ctx context.Context, id string, now time.Time, withGroups bool) (row loadedSession, found bool, err error) {
	if s.batch != nil {
		if withGroups {
			return s.batchGroups.load(id, now, s.loadManyGroups)
		}
		return s.batch.load(id, now, s.loadMany)
	}
	p := s.loader.one
	if withGroups {
		p = s.loader.oneGroups
	}
	// The lookup takes microseconds, so it is not worth the goroutines that
	// database/sql and the driver each start per query to watch a
	// cancellable context: run it without cancellation.
	bg := context.WithoutCancel(ctx)
	stmt, err := p.Stmt(bg)
	if err != nil {
		return row, false, models.DBError("load session", err)
	}
	row, err = scanPacked(stmt.QueryRowContext(bg, id, now), withGroups)
	if err == sql.ErrNoRows {
		return row, false, nil
	}
	if err != nil {
		return row, false, models.DBError("load session", err)
	}
	return row, true, nil
}

// loadMany returns the sessions with the given row IDs, expired or not, by
// ID: one statement for all.
func (s *SessionStore) loadMany(ids []string) (map[string]loadedSession, error) {
	return s.loadManyWith(ids, false)
}

// loadManyGroups is loadMany reading the users' groups too.
func (s *SessionStore) loadManyGroups(ids []string) (map[string]loadedSession, error) {
	return s.loadManyWith(ids, true)
}

func (s *SessionStore) loadManyWith(ids []string, withGroups bool) (map[string]loadedSession, error) {
	b := 0
	for b < len(lookupBatchSizes)-1 && lookupBatchSizes[b] < len(ids) {
		b++
	}
	n := lookupBatchSizes[b]
	if len(ids) > n {
		return nil, fmt.Errorf("load sessions: %d IDs, at most %d", len(ids), n)
	}
	// One deadline for the whole statement, preparation included (not
	// per request: the batch answers many), so a hung connection or a
	// lock fails it instead of holding every lookup queued behind it.
	ctx, cancel := context.WithTimeout(context.Background(), sessionLookupTimeout)
	defer cancel()
	g := 0
	if withGroups {
		g = 1
	}
	stmt, err := s.loader.batch[g][b].Stmt(ctx)
	if err != nil {
		return nil, models.DBError("load sessions", err)
	}
	args := make([]any, n)
	for i := range args {
		args[i] = ids[min(i, len(ids)-1)]
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, models.DBError("load sessions", err)
	}
	defer rows.Close()
	out := make(map[string]loadedSession, len(ids))
	for rows.Next() {
		var id string
		row, err := scanSession(rows, &id, withGroups)
		if err != nil {
			return nil, models.DBError("load sessions", err)
		}
		out[id] = row
	}
	if err := rows.Err(); err != nil {
		return nil, models.DBError("load sessions", err)
	}
	return out, nil
}

// scanSession scans one row of sessionUserQuery or sessionsUserQuery;
// withGroups says it has the groups column.
func scanSession(sc interface{ Scan(...any) error }, id *string, withGroups bool) (row loadedSession, err error) {
	// One allocation for every scan target and for what the state points
	// to (its optional times and IDs, its user), not twenty.
	v := new(struct {
		userID, pendingID, uid         sql.NullInt64
		authAt, pendingAt, reauthAt    sql.NullTime
		authMethod, resetHash          sql.NullString
		persistent                     sql.NullBool
		data                           []byte
		createdAt, lastSeen, expiresAt time.Time
		username, email                sql.NullString
		isActive, isStaff, isSuperuser sql.NullBool
		emailVerified                  sql.NullBool
		language, timeZone             sql.NullString
		groups                         sql.NullString
		dest                           [23]any
		times                          [3]time.Time
		ids                            [2]uint
		user                           models.SessionUser
	})
	v.dest = [23]any{id,
		&v.userID, &v.authAt, &v.authMethod, &v.reauthAt, &v.pendingID, &v.pendingAt, &v.persistent,
		&v.resetHash, &v.data, &v.createdAt, &v.lastSeen, &v.expiresAt,
		&v.uid, &v.username, &v.email, &v.isActive, &v.isStaff, &v.isSuperuser, &v.emailVerified,
		&v.language, &v.timeZone, &v.groups}
	dest := v.dest[:]
	if !withGroups {
		dest = dest[:len(dest)-1]
	}
	if err = sc.Scan(dest...); err != nil {
		return row, err
	}
	st := &row.state
	row.Data, row.lastSeen = v.data, v.lastSeen
	st.UserID = optionalID(v.userID, &v.ids[0])
	st.PendingUserID = optionalID(v.pendingID, &v.ids[1])
	st.AuthAt = optionalTime(v.authAt, &v.times[0])
	st.ReauthAt = optionalTime(v.reauthAt, &v.times[1])
	st.PendingAt = optionalTime(v.pendingAt, &v.times[2])
	st.AuthMethod, st.ResetHash, st.Persistent = v.authMethod.String, v.resetHash.String, v.persistent.Bool
	st.CreatedAt, st.ExpiresAt = v.createdAt.UTC(), v.expiresAt.UTC()
	if v.uid.Valid {
		v.user = models.SessionUser{
			ID: uint(v.uid.Int64), Username: v.username.String, Email: v.email.String,
			IsActive: v.isActive.Bool, IsStaff: v.isStaff.Bool, IsSuperuser: v.isSuperuser.Bool,
			EmailVerified: v.emailVerified.Bool,
			Language:      v.language.String, TimeZone: v.timeZone.String,
		}
		st.User = &v.user
		st.GroupNames, st.GroupsRead = v.groups.String, withGroups
	}
	return row, nil
}

// optionalID is v's ID in *into (nil when NULL).
func optionalID(v sql.NullInt64, into *uint) *uint {
	if !v.Valid {
		return nil
	}
	*into = uint(v.Int64)
	return into
}

// optionalTime is v's time, in UTC, in *into (nil when NULL).
func optionalTime(v sql.NullTime, into *time.Time) *time.Time {
	if !v.Valid {
		return nil
	}
	*into = v.Time.UTC()
	return into
}

// checkUserColumns reports whether userColumns lists exactly the columns
// of models.SessionUser, in any order.
func checkUserColumns(dbNames []string) error {
	want := map[string]bool{}
	for _, c := range userColumns {
		want[c] = true
	}
	for _, c := range dbNames {
		if !want[c] {
			return fmt.Errorf("users column %q is missing from the session hot path (userColumns)", c)
		}
		delete(want, c)
	}
	for c := range want {
		return fmt.Errorf("userColumns lists %q, which models.SessionUser does not have", c)
	}
	return nil
}
