package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/core"
	"gatehouse/internal/passhash"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

// App is the whole application built once: the core (use cases, outbox
// worker, sweeps: internal/core) and the HTTP handler over it. `serve`, the
// handler tests and the browser tests all build it with NewApp, so they run
// the same thing.
type App struct {
	// Handler serves every route behind the middleware stack.
	Handler http.Handler
	core    *core.Core
	h       *Handler
	areas   areas
	// loginChain is the login page's middleware, which the plain lane
	// stands in for (TestPlainLaneStandsInForTheChain).
	loginChain gin.HandlersChain
}

// areas are the handler types of the app, one per area of routes.
type areas struct {
	mw      *middleware
	signIn  *signInPages
	account *accountPages
	admin   *adminPages
	mfa     *mfaPages
	social  *socialPages
	forward *forwardAuth
	groups  *groupPages
	oidc    *oidcPages
}

// NewApp wires the app over db, hashing passwords with hasher.
func NewApp(log *slog.Logger, db *gorm.DB, hasher *passhash.Hasher, cfg Config) *App {
	cfg.SetDefaults()
	secure := strings.HasPrefix(cfg.BaseURL, "https://")
	c := core.New(log, db, hasher, cfg)
	h := &Handler{
		log:       log,
		cfg:       cfg,
		users:     c.Users,
		store:     websession.NewSessionStore(db, cfg.SessionLifetime, cfg.SessionIdleTimeout, secure, log),
		probe:     c.Probe,
		groups:    models.NewGroups(db),
		providers: upstream.NewSet(cfg.SocialProviders, nil),
	}
	h.store.SetDomain(cfg.SessionCookieDomain)
	watchMetrics(log, cfg.Metrics, db, hasher, c.Outbox)
	a := &App{core: c, h: h, areas: areas{
		mw:      &middleware{Handler: h, csp: []string{cspFor(cfg.BaseURL, cfg.SessionCookieDomain)}},
		signIn:  &signInPages{Handler: h, accounts: c.Accounts, tokens: c.Tokens},
		account: &accountPages{Handler: h, accounts: c.Accounts, events: c.Events},
		admin:   &adminPages{Handler: h, accounts: c.Accounts, sessions: c.Sessions, events: c.Events, outbox: c.Outbox},
		mfa:     &mfaPages{Handler: h, accounts: c.Accounts},
		social:  &socialPages{Handler: h, accounts: c.Accounts},
		forward: newForwardAuth(h, c.Accounts, h.groups, c.Events),
		groups:  &groupPages{Handler: h, accounts: c.Accounts, groups: h.groups},
		oidc:    &oidcPages{Handler: h, provider: c.OIDC, off: c.OIDCOff, db: db, accounts: c.Accounts},
	}}
	a.areas.signIn.loginPlain = newPrerenderedSet(func() templ.Component {
		return h.loginView(components.Page{LanguageNext: route.URL(route.Login)}, "")
	})
	a.Handler = a.Routes()
	return a
}

// Core returns the app's core (use cases, outbox), for management commands
// and tests.
func (a *App) Core() *core.Core { return a.core }

// Accounts returns the security flows.
func (a *App) Accounts() *auth.Accounts { return a.core.Accounts }

// Outbox returns the outbox, for operators' counts.
func (a *App) Outbox() *models.Outbox { return a.core.Outbox }

// Run does the background work until ctx ends: the core's (outbox worker,
// sweeps, the database watch) and the writer of sessions' last_seen_at
// (websession.SessionStore.RunTouches). Start it beside the server and
// cancel ctx after the server has shut down; Run returns once the worker
// has finished what it held (unsent mail stays in the outbox for the next
// start).
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.core.Run(ctx) })
	wg.Go(func() { a.h.store.RunTouches(ctx, a.h.cfg.TouchFlushEvery) })
	wg.Wait()
}
