package models

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	ginsessions "github.com/gin-contrib/sessions"
	gsessions "github.com/gorilla/sessions"
	"gorm.io/gorm"
)

// SessionCookieName is the session cookie's name, Django's.
const SessionCookieName = "sessionid"

// UserIDKey is the session value holding the signed-in user's ID. The store
// keeps it in the indexed user_id column rather than in the data blob.
const UserIDKey = "_auth_user_id"

// lastSeenEvery bounds how often a request writes last_seen_at, so reading
// pages does not turn into a database write per request.
const lastSeenEvery = time.Minute

// Session is a server-side session. Its primary key is the SHA-256 of the
// random token in the cookie, so a copy of the table cannot be replayed as
// cookies.
type Session struct {
	ID         string    `gorm:"primaryKey;size:64"`
	UserID     *uint     `gorm:"index"`
	User       *User     `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	Data       []byte    `gorm:"type:blob"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	UserAgent  string    `gorm:"size:512;not null;default:''"`
	IP         string    `gorm:"size:64;not null;default:''"`
}

func init() {
	// Session values are gob-encoded; register the concrete types stored
	// behind interface{} (flashes are appended as []interface{}).
	gob.Register([]interface{}{})
	gob.Register(Flash{})
}

// Flash is a one-time message shown on the next page.
type Flash struct {
	Level   string // "success", "info", "warning" or "error"
	Message string
}

type clientKey struct{}

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

func clientInfo(ctx context.Context) ClientInfo {
	ci, _ := ctx.Value(clientKey{}).(ClientInfo)
	return ci
}

// SessionStore is a gin-contrib/sessions store over the Session table.
type SessionStore struct {
	db       *gorm.DB
	opts     ginsessions.Options
	lifetime time.Duration
	log      *slog.Logger
	loader   sessionLoader
}

var _ ginsessions.Store = (*SessionStore)(nil)

// NewSessionStore returns a store whose sessions last lifetime from creation.
// secure marks the cookie Secure (for https deployments).
func NewSessionStore(db *gorm.DB, lifetime time.Duration, secure bool, log *slog.Logger) *SessionStore {
	return &SessionStore{
		db:       db,
		lifetime: lifetime,
		log:      log,
		opts: ginsessions.Options{
			Path:     "/",
			MaxAge:   int(lifetime / time.Second),
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}
}

// Options sets the cookie options of new sessions. HttpOnly and SameSite are
// kept whatever is passed: they are defences, not preferences.
func (s *SessionStore) Options(o ginsessions.Options) {
	o.HttpOnly = true
	if o.SameSite == http.SameSiteDefaultMode || o.SameSite == http.SameSiteNoneMode {
		o.SameSite = http.SameSiteLaxMode
	}
	s.opts = o
}

// Get returns the request's session, loading it once per request.
func (s *SessionStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new
// empty one when there is none, it is malformed, expired or unknown.
func (s *SessionStore) New(r *http.Request, name string) (*gsessions.Session, error) {
	gs := gsessions.NewSession(s, name)
	gs.Options = s.opts.ToGorillaOptions()
	gs.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return gs, nil
	}
	id, ok := SessionIDFromToken(c.Value)
	if !ok {
		return gs, nil
	}
	ctx := r.Context()
	now := time.Now().UTC()
	row, found, err := s.load(ctx, id, now)
	if err != nil {
		return gs, err
	}
	if !found {
		return gs, nil
	}
	if len(row.Data) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(row.Data)).Decode(&gs.Values); err != nil {
			s.log.Warn("session data unreadable; starting afresh", "err", err)
			gs.Values = map[interface{}]interface{}{}
		}
	}
	if row.UserID != nil {
		gs.Values[UserIDKey] = *row.UserID
	}
	if row.User != nil {
		gs.Values[sessionUserKey{}] = row.User
	}
	gs.ID = id
	gs.IsNew = false
	if now.Sub(row.LastSeenAt) >= lastSeenEvery {
		// Best effort: a missed update only makes last_seen_at older.
		if err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).
			Update("last_seen_at", now).Error; err != nil {
			s.log.Warn("update session last_seen_at", "err", err)
		}
	}
	return gs, nil
}

// Save writes the session and its cookie. A negative MaxAge deletes both.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, gs *gsessions.Session) error {
	ctx := r.Context()
	if gs.Options != nil && gs.Options.MaxAge < 0 {
		if gs.ID != "" {
			if err := s.db.WithContext(ctx).Delete(&Session{}, "id = ?", gs.ID).Error; err != nil {
				return dbErr("delete session", err)
			}
		}
		http.SetCookie(w, gsessions.NewCookie(gs.Name(), "", gs.Options))
		gs.ID = ""
		return nil
	}
	data, userID, err := encodeValues(gs.Values)
	if err != nil {
		return err
	}
	if gs.ID != "" {
		err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", gs.ID).
			Updates(map[string]any{"data": data, "user_id": userID}).Error
		return dbErr("save session", err)
	}
	token, id, err := newSessionToken()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ci := clientInfo(ctx)
	row := Session{
		ID: id, UserID: userID, Data: data,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.lifetime),
		UserAgent: truncate(ci.UserAgent, 512), IP: truncate(ci.IP, 64),
	}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return dbErr("create session", err)
	}
	gs.ID = id
	gs.IsNew = false
	opts := *gs.Options
	opts.MaxAge = int(s.lifetime / time.Second)
	http.SetCookie(w, gsessions.NewCookie(gs.Name(), token, &opts))
	return nil
}

// Rotate deletes the session's row and marks it new, so the next Save issues
// a fresh token: the old cookie is worthless from then on. Values are kept.
func (s *SessionStore) Rotate(ctx context.Context, gs *gsessions.Session) error {
	if gs.ID != "" {
		if err := s.db.WithContext(ctx).Delete(&Session{}, "id = ?", gs.ID).Error; err != nil {
			return dbErr("rotate session", err)
		}
	}
	gs.ID = ""
	gs.IsNew = true
	return nil
}

func encodeValues(values map[interface{}]interface{}) ([]byte, *uint, error) {
	var userID *uint
	rest := make(map[interface{}]interface{}, len(values))
	for k, v := range values {
		if _, ok := k.(sessionUserKey); ok {
			continue // the loaded user rides along for this request only
		}
		if k == UserIDKey {
			if id, ok := v.(uint); ok {
				userID = &id
			}
			continue
		}
		rest[k] = v
	}
	if len(rest) == 0 {
		return nil, userID, nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(rest); err != nil {
		return nil, nil, fmt.Errorf("encode session: %w", err)
	}
	return buf.Bytes(), userID, nil
}

// newSessionToken returns a random 256-bit cookie token and the ID (its
// SHA-256 in hex) under which the row is stored.
func newSessionToken() (token, id string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// SessionIDFromToken validates a cookie token's form (43 base64url characters
// of 32 bytes) and returns the row ID it maps to.
func SessionIDFromToken(token string) (string, bool) {
	if len(token) != 43 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return hashToken(token), true
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Sessions holds the session-table operations outside a request.
type Sessions struct {
	db *gorm.DB
}

// NewSessions returns the session operations over db.
func NewSessions(db *gorm.DB) *Sessions { return &Sessions{db: db} }

// DeleteForUser ends every session of userID except the one with ID except
// (pass "" to end them all). It returns how many ended.
func (s *Sessions) DeleteForUser(ctx context.Context, userID uint, except string) (int64, error) {
	res := s.db.WithContext(ctx).Where("user_id = ? AND id <> ?", userID, except).Delete(&Session{})
	return res.RowsAffected, dbErr("delete user sessions", res.Error)
}

// ForUser lists userID's unexpired sessions, most recently seen first.
func (s *Sessions) ForUser(ctx context.Context, userID uint) ([]Session, error) {
	var rows []Session
	err := s.db.WithContext(ctx).Where("user_id = ? AND expires_at > ?", userID, time.Now().UTC()).
		Order("last_seen_at DESC").Find(&rows).Error
	return rows, dbErr("list sessions", err)
}

// DeleteExpired removes sessions past their expiry and returns how many.
func (s *Sessions) DeleteExpired(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", time.Now().UTC()).Delete(&Session{})
	return res.RowsAffected, dbErr("delete expired sessions", res.Error)
}

// Sweep deletes expired sessions every interval until ctx ends.
func (s *Sessions) Sweep(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.DeleteExpired(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("sweep expired sessions", "err", err)
				continue
			}
			if n > 0 {
				log.Info("swept expired sessions", "count", n)
			}
		}
	}
}
