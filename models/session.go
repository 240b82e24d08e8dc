package models

import (
	"context"
	"encoding/gob"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/secret"
)

// Lifetimes of sessions that are not signed in. A visitor who is not signed
// in has no session at all, except when a flow needs one: a reset link in
// use, a message to show after logging out. Those end quickly.
const (
	AnonymousSessionLifetime = time.Hour
	// PendingSecondFactorLifetime bounds the "password checked, second
	// factor not yet given" state.
	PendingSecondFactorLifetime = 5 * time.Minute
)

// Authentication methods recorded on a signed-in session.
const (
	AuthPassword = "password"
	AuthSignup   = "signup"
)

// Session is a server-side session row. Its primary key is the SHA-256 of
// the random token in the cookie, so a copy of the table cannot be replayed
// as cookies. Everything the app decides on is a typed column; Data holds
// only the flash messages.
type Session struct {
	ID     string `gorm:"primaryKey;size:64"`
	UserID *uint  `gorm:"index"`
	User   *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	// AuthAt is when the user proved who they are (login, sign-up);
	// AuthMethod how.
	AuthAt     *time.Time
	AuthMethod string `gorm:"size:64;not null;default:''"`
	// ReauthAt is when the user last gave their password in this session
	// (login, sign-up, password change, re-authentication): sensitive
	// actions need it recent ("sudo mode").
	ReauthAt *time.Time
	// PendingUserID is a user whose password was right but whose second
	// factor is still due. Such a session is NOT signed in.
	PendingUserID *uint `gorm:"index"`
	PendingUser   *User `gorm:"foreignKey:PendingUserID;constraint:OnDelete:CASCADE" json:"-"`
	PendingAt     *time.Time
	// PendingRemember is the "remember me" choice of a pending login.
	PendingRemember bool `gorm:"not null;default:false"`
	// Persistent sessions outlive the browser (the cookie has an expiry);
	// others end with the browser and after an idle timeout.
	Persistent bool `gorm:"not null;default:false"`
	// ResetHash is the hash (never the token) of a password-reset link in
	// use by this browser.
	ResetHash  string    `gorm:"size:64;not null;default:''"`
	Data       []byte    `gorm:"type:blob"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	UserAgent  string    `gorm:"size:512;not null;default:''"`
	IP         string    `gorm:"size:64;not null;default:''"`
}

func init() {
	// Flash messages are gob-encoded in Data; register the concrete types
	// stored behind interface{} (flashes are appended as []interface{}).
	gob.Register([]interface{}{})
	gob.Register(Flash{})
}

// Flash is a one-time message shown on the next page.
type Flash struct {
	Level   string // "success", "info", "warning" or "error"
	Message string
	// Link and LinkText, when set, follow the message as a link (a path
	// of this site, built from the route table), so no message tells
	// people to type a URL.
	Link, LinkText string
}

// SessionState is the typed session of one request: what the row says, the
// user loaded with it, and what the request changed. Handlers reach it only
// through their one session accessor (handlers/session.go).
type SessionState struct {
	// ID is the row's ID ("" when the visitor has no session row).
	ID            string
	UserID        *uint
	AuthAt        *time.Time
	AuthMethod    string
	ReauthAt      *time.Time
	PendingUserID *uint
	PendingAt     *time.Time
	Persistent    bool
	ResetHash     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// User is the signed-in user as the lookup reads it (only the
	// SessionUser part of the row), loaded in the same query as the row.
	User *SessionUser
	// GroupNames are User's group names, sorted and joined by commas
	// (none holds one), read in that same query; GroupsRead says they
	// were (not for a session adopted during the request, nor after End).
	GroupNames string
	GroupsRead bool

	// token is a fresh cookie token for a row a use case has just created
	// (login, sign-up, rotation); Save sets the cookie.
	token string
	// rotate asks Save to move the session to a new token (and row).
	rotate bool
	// end asks Save to delete the row and the cookie.
	end bool
}

// SignedIn reports whether the session is signed in as an active user.
func (s *SessionState) SignedIn() bool {
	return s.User != nil && s.UserID != nil && s.User.ID == *s.UserID
}

// Rotate asks for a new token (and row) when the session is saved, so a
// token planted or seen before this point is worthless afterwards. Used
// whenever a capability is added to the session.
func (s *SessionState) Rotate() { s.rotate = true }

// End asks for the row and the cookie to be deleted when the session is
// saved. Flashes added afterwards are carried by a new, short-lived row.
func (s *SessionState) End() {
	s.end = true
	s.UserID, s.User, s.PendingUserID, s.PendingAt, s.AuthAt, s.ReauthAt = nil, nil, nil, nil, nil, nil
	s.GroupNames, s.GroupsRead = "", false
	s.AuthMethod, s.ResetHash, s.Persistent = "", "", false
}

// Adopt makes the state the session a use case created in its
// transaction: Save keeps that row and sets its token as the cookie.
func (s *SessionState) Adopt(ns NewSession) {
	*s = ns.State
	s.token = ns.token
}

// NewSession is a session row a use case created; hand it to
// SessionState.Adopt so the response carries its cookie.
type NewSession struct {
	State SessionState
	token string
}

type clientKey struct{}

// ClientInfoKey is the context key ClientInfoOf reads. A context type that
// holds the client's details itself (the HTTP layer's request scope)
// answers it with a *ClientInfo: no value boxed per request.
var ClientInfoKey any = clientKey{}

// ClientInfo is what the session store records about who opened a session.
type ClientInfo struct {
	IP        string
	UserAgent string
}

// WithClientInfo returns ctx carrying the request's client address as the
// HTTP layer resolved it (trusted proxies applied).
func WithClientInfo(ctx context.Context, ci ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, ci)
}

// ClientInfoOf returns the client details ctx carries (WithClientInfo or
// a context answering ClientInfoKey), or none.
func ClientInfoOf(ctx context.Context) ClientInfo {
	switch ci := ctx.Value(clientKey{}).(type) {
	case ClientInfo:
		return ci
	case *ClientInfo:
		return *ci
	}
	return ClientInfo{}
}

// Lifetimes are how long sessions last: a remembered (persistent) one
// Lifetime from sign-in; one that is not remembered until the browser
// closes (no cookie expiry) and, on the server, Idle after its last
// request, but never beyond Lifetime.
type Lifetimes struct {
	Lifetime time.Duration
	Idle     time.Duration
}

// expiry is when a session created at created, last seen at seen, ends.
func (l Lifetimes) expiry(st *SessionState, created, seen time.Time) time.Time {
	end := created.Add(l.Lifetime)
	switch {
	case st.UserID == nil:
		return minTime(end, created.Add(AnonymousSessionLifetime))
	case !st.Persistent && l.Idle > 0:
		return minTime(end, seen.Add(l.Idle))
	}
	return end
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// createSession inserts a session row for state inside tx and returns it
// with its cookie token. How long it lasts: see Lifetimes.
func createSession(tx *gorm.DB, ctx context.Context, state SessionState, life Lifetimes) (NewSession, error) {
	token, id, err := newSessionToken()
	if err != nil {
		return NewSession{}, err
	}
	now := time.Now().UTC()
	if state.UserID == nil {
		state.Persistent = false
	}
	expires := life.expiry(&state, now, now)
	ci := ClientInfoOf(ctx)
	row := Session{
		ID: id, UserID: state.UserID, AuthAt: state.AuthAt, AuthMethod: state.AuthMethod, ReauthAt: state.ReauthAt,
		PendingUserID: state.PendingUserID, PendingAt: state.PendingAt, Persistent: state.Persistent,
		ResetHash: state.ResetHash, CreatedAt: now, LastSeenAt: now, ExpiresAt: expires,
		UserAgent: truncate(ci.UserAgent, 512), IP: truncate(ci.IP, 64),
	}
	if err := tx.Create(&row).Error; err != nil {
		return NewSession{}, err
	}
	state.ID, state.CreatedAt, state.ExpiresAt = id, now, row.ExpiresAt
	state.token, state.rotate, state.end = "", false, false
	return NewSession{State: state, token: token}, nil
}

// signIn replaces the session oldID (may be "") with a new signed-in row
// for user, inside tx: the rotation Django's login() does, so a token
// planted before login (session fixation) is worthless afterwards.
func signIn(tx *gorm.DB, ctx context.Context, oldID string, user *User, method string, persistent bool, life Lifetimes) (NewSession, error) {
	if oldID != "" {
		if err := tx.Delete(&Session{}, "id = ?", oldID).Error; err != nil {
			return NewSession{}, err
		}
	}
	now := time.Now().UTC()
	ns, err := createSession(tx, ctx, SessionState{
		UserID: &user.ID, AuthAt: &now, AuthMethod: method, ReauthAt: &now, Persistent: persistent,
	}, life)
	if err != nil {
		return NewSession{}, err
	}
	ns.State.User = &user.SessionUser
	return ns, nil
}

// newSessionToken returns a random 256-bit cookie token and the ID (its
// SHA-256 in hex) under which the row is stored.
func newSessionToken() (token, id string, err error) {
	if token, err = secret.New(); err != nil {
		return "", "", fmt.Errorf("session token: %w", err)
	}
	return token, secret.Hash(token), nil
}

// SessionIDFromToken validates a cookie token's form (43 base64url characters
// of 32 bytes) and returns the row ID it maps to.
func SessionIDFromToken(token string) (string, bool) {
	if !secret.Valid(token) {
		return "", false
	}
	return secret.Hash(token), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// TakeChanges returns what saving the state must do, and clears it: the
// fresh cookie token of a row a use case created, a rotation asked for, an
// end asked for. Only the web-session store calls it.
func (s *SessionState) TakeChanges() (token string, rotate, end bool) {
	token, rotate, end = s.token, s.rotate, s.end
	s.token, s.rotate, s.end = "", false, false
	return token, rotate, end
}

// Token is the cookie token of a new session (never stored).
func (ns NewSession) Token() string { return ns.token }

// CreateSession inserts a session row for state inside tx and returns it
// with its cookie token (see Lifetimes for how long it lasts).
func CreateSession(tx *gorm.DB, ctx context.Context, state SessionState, life Lifetimes) (NewSession, error) {
	return createSession(tx, ctx, state, life)
}

// Expiry is when a session created at created, last seen at seen, ends.
func (l Lifetimes) Expiry(st *SessionState, created, seen time.Time) time.Time {
	return l.expiry(st, created, seen)
}

// DBError maps a database error of op to ErrUnavailable, ErrCorrupt or a
// wrapped error (dialect.go).
func DBError(op string, err error) error { return dbErr(op, err) }

// IsPostgres reports whether db is a PostgreSQL database.
func IsPostgres(db *gorm.DB) bool { return dialectOf(db) == dialectPostgres }

// Rebind rewrites ? placeholders for db's dialect ($1, $2 on PostgreSQL).
func Rebind(db *gorm.DB, query string) string { return dialectOf(db).rebind(query) }

// Truncate clips s to n bytes.
func Truncate(s string, n int) string { return truncate(s, n) }

// SignIn replaces the session oldID (may be "") with a new signed-in row
// for user, inside tx (see signIn).
func SignIn(tx *gorm.DB, ctx context.Context, oldID string, user *User, method string, persistent bool, life Lifetimes) (NewSession, error) {
	return signIn(tx, ctx, oldID, user, method, persistent, life)
}
