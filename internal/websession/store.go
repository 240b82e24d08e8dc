// Package websession is the web-session store: the only code that knows
// gorilla/sessions and cookies. It keeps sessions in the models.Session
// table, answers the per-request lookup (batched on PostgreSQL) and queues
// last_seen_at writes.
package websession

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	gsessions "github.com/gorilla/sessions"
	"gorm.io/gorm"

	"gatehouse/internal/readcache"
	"gatehouse/models"
)

// Session cookie names. Over https the cookie carries the __Host- prefix,
// which browsers only accept with Secure, Path=/ and no Domain: a sibling
// subdomain or a plain-http page cannot plant or overwrite it.
// With SESSION_COOKIE_DOMAIN the cookie covers sibling hosts, which
// __Host- forbids; over https it is then __Secure- (Secure required, so
// a plain-http page cannot set it).
const (
	SessionCookieName             = "sessionid"
	SecureSessionCookieName       = "__Host-sessionid"
	SecureDomainSessionCookieName = "__Secure-sessionid"
)

// CookieName returns the session cookie's name for an http or https site.
func CookieName(secure bool) string {
	if secure {
		return SecureSessionCookieName
	}
	return SessionCookieName
}

// lastSeenEvery bounds how often a request writes last_seen_at, so reading
// pages does not turn into a database write per request.
const lastSeenEvery = time.Minute

// SessionStateKey is the gin-contrib session value holding the request's
// *SessionState. It is never saved as a value: Save writes the columns.
var SessionStateKey = sessionStateKey{}

type sessionStateKey struct{}

// StateOf returns the typed state behind a store-level session (nil when
// the store did not create it).
func StateOf(values map[interface{}]interface{}) *models.SessionState {
	st, _ := values[SessionStateKey].(*models.SessionState)
	return st
}

// SessionStore is a gorilla/sessions store over the Session table; the
// HTTP layer adapts it to gin-contrib/sessions (handlers/session.go).
type SessionStore struct {
	db     *gorm.DB
	opts   gsessions.Options
	name   string
	life   models.Lifetimes
	log    *slog.Logger
	loader sessionLoader
	// batch answers concurrent lookups together on PostgreSQL
	// (session_batch.go); nil on SQLite, where a lookup is a call into
	// the process and costs about what one statement for many would.
	// batchGroups does the same for lookups that read the user's groups
	// too (WithGroups).
	batch, batchGroups *sessionBatcher
	// touches are the last_seen_at writes waiting for FlushTouches.
	touches touchQueue
	// cache and cacheGroups keep the rows the lookup read, with and
	// without the groups, until the database next changes (session_load.go).
	cache, cacheGroups *readcache.Cache[loadedSession]
}

var _ gsessions.Store = (*SessionStore)(nil)

// NewSessionStore returns a store whose signed-in sessions last lifetime
// from creation (remembered) or until idle passes without a request (not
// remembered). secure marks the cookie Secure and gives it the __Host-
// prefix (for https deployments).
func NewSessionStore(db *gorm.DB, lifetime, idle time.Duration, secure bool, log *slog.Logger) *SessionStore {
	var batch, batchGroups *sessionBatcher
	if models.IsPostgres(db) {
		batch = newSessionBatcher(sessionLookupsInFlight, lookupBatchSizes[len(lookupBatchSizes)-1])
		batchGroups = newSessionBatcher(sessionLookupsInFlight, lookupBatchSizes[len(lookupBatchSizes)-1])
	}
	changes := models.Changes(db)
	return &SessionStore{
		batch:       batch,
		batchGroups: batchGroups,
		cache:       readcache.New[loadedSession](changes, maxCachedSessions),
		cacheGroups: readcache.New[loadedSession](changes, maxCachedSessions),
		db:          db,
		loader:      newSessionLoader(db),
		life:        models.Lifetimes{Lifetime: lifetime, Idle: idle},
		log:         log,
		name:        CookieName(secure),
		opts: gsessions.Options{
			Path:     "/",
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}
}

// SetDomain makes the session cookie cover domain (SESSION_COOKIE_DOMAIN,
// e.g. ".example.com") and names it accordingly; call it before serving.
func (s *SessionStore) SetDomain(domain string) {
	if domain == "" {
		return
	}
	s.opts.Domain = domain
	if s.opts.Secure {
		s.name = SecureDomainSessionCookieName
	}
}

// CookieName is the name of the store's session cookie.
func (s *SessionStore) CookieName() string { return s.name }

// Lifetimes returns how long the store's sessions last.
func (s *SessionStore) Lifetimes() models.Lifetimes { return s.life }

// Get returns the request's session, loading it once per request.
func (s *SessionStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new
// empty one when there is none, it is malformed, expired or unknown. A
// session whose pending second factor has timed out loses that state.
func (s *SessionStore) New(r *http.Request, name string) (*gsessions.Session, error) {
	gs := gsessions.NewSession(s, name)
	opts := s.opts
	gs.Options = &opts
	gs.IsNew = true
	st := &models.SessionState{}
	gs.Values[SessionStateKey] = st
	c, err := r.Cookie(name)
	if err != nil {
		return gs, nil
	}
	id, ok := models.SessionIDFromToken(c.Value)
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
			s.log.Warn("session data unreadable; flashes dropped", "err", err)
			gs.Values = map[interface{}]interface{}{}
		}
		gs.Values[SessionStateKey] = st
	}
	*st = row.state
	st.ID = id
	if st.PendingAt != nil && now.Sub(*st.PendingAt) > models.PendingSecondFactorLifetime {
		st.PendingUserID, st.PendingAt = nil, nil
	}
	gs.ID = id
	gs.IsNew = false
	if now.Sub(row.lastSeen) >= lastSeenEvery {
		// Queued, written by FlushTouches (session_touch.go). A session
		// that is not remembered moves its idle expiry along.
		var moveTo time.Time
		if exp := s.life.Expiry(st, st.CreatedAt, now); exp.After(st.ExpiresAt) {
			moveTo, st.ExpiresAt = exp, exp
		}
		s.queueTouch(id, now, moveTo)
	}
	return gs, nil
}

// Save writes what the request changed: it ends, rotates, creates or
// updates the row and sets or clears the cookie. A visitor who is not signed
// in gets a row (short-lived) only when there is something to carry: a
// flash message or a capability such as a reset link in use.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, gs *gsessions.Session) error {
	ctx := r.Context()
	st := StateOf(gs.Values)
	if st == nil {
		return errors.New("save session: no typed state (not created by this store)")
	}
	data, err := encodeFlashes(gs.Values)
	if err != nil {
		return err
	}
	token, rotate, end := st.TakeChanges()
	if end {
		if st.ID != "" {
			if err := s.db.WithContext(ctx).Delete(&models.Session{}, "id = ?", st.ID).Error; err != nil {
				return models.DBError("delete session", err)
			}
			st.ID = ""
		}
		token = ""
		if data == nil {
			s.clearCookie(w)
			return nil
		}
	}
	if token != "" { // created by a use case in its transaction
		if data != nil {
			if err := s.db.WithContext(ctx).Model(&models.Session{}).Where("id = ?", st.ID).Update("data", data).Error; err != nil {
				return models.DBError("save session", err)
			}
		}
		s.setCookie(w, st, token)
		return nil
	}
	if st.ID != "" && !rotate {
		err := s.db.WithContext(ctx).Model(&models.Session{}).Where("id = ?", st.ID).Updates(map[string]any{
			"data": data, "reset_hash": st.ResetHash, "pending_user_id": st.PendingUserID, "pending_at": st.PendingAt,
		}).Error
		return models.DBError("save session", err)
	}
	if st.ID == "" && data == nil && st.ResetHash == "" && st.PendingUserID == nil && st.UserID == nil {
		return nil // nothing worth a row: no session, no cookie
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ns, err := models.CreateSession(tx, ctx, *st, s.life)
		if err != nil {
			return err
		}
		if st.ID != "" {
			// A rotation keeps the apps the browser signed in to
			// (their sid too), then the old row goes.
			if err := models.MoveOIDCSessionClients(tx, st.ID, ns.State.ID); err != nil {
				return err
			}
			if err := tx.Delete(&models.Session{}, "id = ?", st.ID).Error; err != nil {
				return err
			}
		}
		if data != nil {
			if err := tx.Model(&models.Session{}).Where("id = ?", ns.State.ID).Update("data", data).Error; err != nil {
				return err
			}
		}
		user := st.User
		*st = ns.State
		st.User = user
		token = ns.Token()
		return nil
	})
	if err != nil {
		return models.DBError("create session", err)
	}
	gs.ID = st.ID
	s.setCookie(w, st, token)
	return nil
}

func (s *SessionStore) setCookie(w http.ResponseWriter, st *models.SessionState, token string) {
	opts := s.opts
	if st.Persistent {
		opts.MaxAge = int(time.Until(st.ExpiresAt) / time.Second)
	}
	http.SetCookie(w, gsessions.NewCookie(s.name, token, &opts))
}

func (s *SessionStore) clearCookie(w http.ResponseWriter) {
	opts := s.opts
	opts.MaxAge = -1
	http.SetCookie(w, gsessions.NewCookie(s.name, "", &opts))
}

// encodeFlashes encodes the session values other than the typed state
// (only flash messages are kept there); nil when there are none.
func encodeFlashes(values map[interface{}]interface{}) ([]byte, error) {
	rest := make(map[interface{}]interface{}, len(values))
	for k, v := range values {
		if _, ok := k.(sessionStateKey); ok {
			continue
		}
		if l, ok := v.([]interface{}); ok && len(l) == 0 {
			continue
		}
		rest[k] = v
	}
	if len(rest) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(rest); err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return buf.Bytes(), nil
}

// CacheStats returns how many lookups the cache answered and how many it
// did not (tests: a cache that is never hit proves nothing).
func (s *SessionStore) CacheStats() (hits, misses uint64) {
	h1, m1 := s.cache.Stats()
	h2, m2 := s.cacheGroups.Stats()
	return h1 + h2, m1 + m2
}
