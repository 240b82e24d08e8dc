package models

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Every signed-in request resolves its cookie to a session and the session
// to a user. That is the hot path, so it is one statement (a join, not two
// queries), prepared once, scanned without GORM's reflection. It still runs
// on every request: a revoked or expired session, or a deactivated or
// deleted user, is refused on the very next request, as before.

// userColumns are the users columns the hot-path query reads, in the order
// scanUser scans them. TestUserColumnsMatchSchema fails when the User model
// gains or loses a column and this list is not updated.
var userColumns = []string{
	"id", "username", "username_key", "email", "email_key", "password",
	"is_active", "is_staff", "is_superuser", "date_joined", "last_login", "email_verified",
}

// sessionUserQuery loads an unexpired session and, when it is signed in, its
// user. load rebinds the placeholders for PostgreSQL ($1, $2).
var sessionUserQuery = "SELECT s.user_id, s.auth_at, s.auth_method, s.reauth_at, s.pending_user_id, s.pending_at, s.persistent, " +
	"s.reset_hash, s.data, s.created_at, s.last_seen_at, s.expires_at, u." + strings.Join(userColumns, ", u.") +
	" FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.expires_at > ? LIMIT 1"

// sessionLoader holds the prepared hot-path statement of a store.
type sessionLoader struct {
	once sync.Once
	stmt *sql.Stmt
	err  error
}

// loadedSession is a session row as the hot path reads it: the typed state
// (with its user, nil when anonymous or gone), the flashes and when it was
// last seen.
type loadedSession struct {
	state    SessionState
	Data     []byte
	lastSeen time.Time
}

// load returns the unexpired session with row ID id, or found=false.
func (s *SessionStore) load(ctx context.Context, id string, now time.Time) (row loadedSession, found bool, err error) {
	s.loader.once.Do(func() {
		sqlDB, err := s.db.DB()
		if err != nil {
			s.loader.err = err
			return
		}
		s.loader.stmt, s.loader.err = sqlDB.Prepare(dialectOf(s.db).rebind(sessionUserQuery))
	})
	if s.loader.err != nil {
		return row, false, dbErr("load session", s.loader.err)
	}
	// One struct for every scan target: one allocation, not twenty.
	var v struct {
		userID, pendingID, uid         sql.NullInt64
		authAt, pendingAt, reauthAt    sql.NullTime
		authMethod, resetHash          sql.NullString
		persistent                     sql.NullBool
		username, usernameKey          sql.NullString
		email, emailKey, password      sql.NullString
		isActive, isStaff, isSuperuser sql.NullBool
		emailVerified                  sql.NullBool
		dateJoined, lastLogin          sql.NullTime
	}
	st := &row.state
	// The lookup takes microseconds, so it is not worth the goroutines that
	// database/sql and the driver each start per query to watch a
	// cancellable context: run it without cancellation.
	err = s.loader.stmt.QueryRowContext(context.WithoutCancel(ctx), id, now).Scan(
		&v.userID, &v.authAt, &v.authMethod, &v.reauthAt, &v.pendingID, &v.pendingAt, &v.persistent,
		&v.resetHash, &row.Data, &st.CreatedAt, &row.lastSeen, &st.ExpiresAt,
		&v.uid, &v.username, &v.usernameKey, &v.email, &v.emailKey, &v.password,
		&v.isActive, &v.isStaff, &v.isSuperuser, &v.dateJoined, &v.lastLogin, &v.emailVerified)
	if err == sql.ErrNoRows {
		return row, false, nil
	}
	if err != nil {
		return row, false, dbErr("load session", err)
	}
	st.UserID = optionalID(v.userID)
	st.PendingUserID = optionalID(v.pendingID)
	st.AuthAt = optionalTime(v.authAt)
	st.ReauthAt = optionalTime(v.reauthAt)
	st.PendingAt = optionalTime(v.pendingAt)
	st.AuthMethod, st.ResetHash, st.Persistent = v.authMethod.String, v.resetHash.String, v.persistent.Bool
	st.CreatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.ExpiresAt.UTC()
	if v.uid.Valid {
		st.User = &User{
			ID: uint(v.uid.Int64), Username: v.username.String, UsernameKey: v.usernameKey.String,
			Email: v.email.String, EmailKey: v.emailKey.String, Password: v.password.String,
			IsActive: v.isActive.Bool, IsStaff: v.isStaff.Bool, IsSuperuser: v.isSuperuser.Bool,
			DateJoined: v.dateJoined.Time.UTC(), LastLogin: optionalTime(v.lastLogin),
			EmailVerified: v.emailVerified.Bool,
		}
	}
	return row, true, nil
}

func optionalID(v sql.NullInt64) *uint {
	if !v.Valid {
		return nil
	}
	id := uint(v.Int64)
	return &id
}

func optionalTime(v sql.NullTime) *time.Time {
	if !v.Valid {
		return nil
	}
	t := v.Time.UTC()
	return &t
}

// checkUserColumns reports whether userColumns lists exactly the columns
// of the User model, in any order.
func checkUserColumns(dbNames []string) error {
	want := map[string]bool{}
	for _, c := range userColumns {
		want[c] = true
	}
	for _, c := range dbNames {
		if !want[c] {
			return fmt.Errorf("users column %q is missing from the session hot path (models.userColumns)", c)
		}
		delete(want, c)
	}
	for c := range want {
		return fmt.Errorf("models.userColumns lists %q, which the User model no longer has", c)
	}
	return nil
}
