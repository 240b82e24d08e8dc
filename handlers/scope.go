package handlers

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/dbdeadline"
	"gatehouse/internal/locale"
	"gatehouse/models"
)

// requestScope is the context the app's handlers run in (requestContext):
// the request's database deadline and the values the layers below read
// from the context, in one allocation. The chain it replaces (a
// context.WithValue per value, each boxing its value, a deadline, its
// channel and its cancel function) took nine per request.
//
// Its values answer their packages' own lookups: RequestID,
// models.ClientInfoOf (models.ClientInfoKey) and locale.From
// (locale.ContextKey); every other key goes to the deadline and on to the
// request's own context.
type requestScope struct {
	dbdeadline.Pausable
	id string
	// client is what models.ClientInfoOf reads, resolved from req on the
	// first lookup (clientOnce). Only writes record it (a session row, an
	// event), so most requests never ask, and resolving costs: the peer's
	// address parsed and, behind trusted proxies, the forwarding headers,
	// two allocations. resolve works from the request alone, never from
	// its gin.Context, which serves another request once this one is done.
	clientOnce sync.Once
	client     models.ClientInfo
	req        *http.Request
	resolve    clientResolver
	// loc is the request's localizer, stored by localize once the user is
	// known (nil until then: the lookup goes on to the parent, as it would
	// before a context.WithValue added it). Atomic, as a context may be
	// read from other goroutines.
	loc atomic.Pointer[locale.Localizer]
	// session is the request's session handle (installSessions; its
	// store is nil on routes without sessions).
	session requestSession
}

// requestScopeKey finds the request's scope among its context's values
// (layers such as the session registry wrap it).
type requestScopeKey struct{}

// clientResolver resolves a request's client details: its address with
// the trusted proxies applied, and its user agent.
type clientResolver func(*http.Request) models.ClientInfo

// newRequestScope returns the scope of request r, whose context is parent;
// resolve gives r's client details when they are first asked for. The
// caller cancels it (Cancel) when the request is done.
func newRequestScope(parent context.Context, id string, r *http.Request, resolve clientResolver, timeout time.Duration) *requestScope {
	s := &requestScope{id: id, req: r, resolve: resolve}
	s.Init(parent, timeout)
	return s
}

// resolveClient fills in s.client (once: clientOnce).
func (s *requestScope) resolveClient() {
	if s.resolve != nil {
		s.client = s.resolve(s.req)
	}
	s.req, s.resolve = nil, nil
}

// Value answers the scope's keys with pointers into the scope (no value is
// boxed), and passes every other key on.
func (s *requestScope) Value(key any) any {
	switch key {
	case requestScopeKey{}:
		return s
	case requestIDCtxKey{}:
		if s.id != "" {
			return &s.id
		}
	case models.ClientInfoKey:
		s.clientOnce.Do(s.resolveClient)
		return &s.client
	case locale.ContextKey:
		if l := s.loc.Load(); l != nil {
			return l
		}
	}
	return s.Pausable.Value(key)
}
