package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/passhash"
	"gatehouse/internal/websession"
	"gatehouse/mail"
	"gatehouse/models"
)

// App is the whole application built once: the HTTP handler and the
// background work (the outbox worker that sends mail and runs deferred
// jobs, and the sweeps of expired rows). `serve`, the handler tests and the
// browser tests all build it with NewApp, so they run the same thing.
type App struct {
	// Handler serves every route behind the middleware stack.
	Handler http.Handler
	h       *Handler
	db      *gorm.DB
	hasher  *passhash.Hasher
	outbox  *models.Outbox
	worker  *mail.Worker
}

// NewApp wires the app over db, hashing passwords with hasher.
func NewApp(log *slog.Logger, db *gorm.DB, hasher *passhash.Hasher, cfg Config) *App {
	cfg.setDefaults()
	secure := strings.HasPrefix(cfg.BaseURL, "https://")
	outbox := models.NewOutbox(db)
	outbox.SetSecret(cfg.SecretKey)
	accounts := auth.NewAccounts(db, hasher, outbox, cfg.policy())
	h := &Handler{
		log:      log,
		cfg:      cfg,
		accounts: accounts,
		users:    models.NewUsers(db, hasher),
		sessions: models.NewSessions(db),
		tokens:   models.NewTokens(db),
		events:   models.NewEvents(db),
		store:    websession.NewSessionStore(db, cfg.SessionLifetime, cfg.SessionIdleTimeout, secure, log),
		probe:    models.NewProbe(db, readyInterval),
		outbox:   outbox,
	}
	if _, err := models.RefreshLegacyDummy(context.Background(), db, hasher); err != nil {
		log.Warn("legacy hash dummy not set", "err", err)
	}
	h.loginPlain = newPrerendered(func() templ.Component { return h.loginView(components.Page{}, "") })
	watchMetrics(log, cfg.Metrics, db, hasher, outbox)
	cfg.Outbox.OnFailure = cfg.Metrics.OutboxFailed
	return &App{
		Handler: h.Routes(),
		h:       h,
		db:      db,
		hasher:  hasher,
		outbox:  outbox,
		worker:  mail.NewWorker(outbox, cfg.Mailer, accounts.ProcessResetRequest, cfg.BaseURL, log, cfg.Outbox),
	}
}

// Accounts returns the security flows, for management commands.
func (a *App) Accounts() *auth.Accounts { return a.h.accounts }

// Outbox returns the outbox, for operators' counts.
func (a *App) Outbox() *models.Outbox { return a.outbox }

// sweepEvery is how often expired rows are swept.
const sweepEvery = 10 * time.Minute

// Run does the background work until ctx ends: the outbox worker, the
// writer of sessions' last_seen_at (websession.SessionStore.RunTouches) and the
// sweeps of expired sessions, stale throttle counters, expired tokens, old
// outbox rows and security events past their retention. Start it beside
// the server and cancel ctx after the server has shut down; Run returns
// once the worker has finished what it held (unsent mail stays in the
// outbox for the next start).
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	log := a.h.log
	// The one list of sweeps (clearsessions runs the same).
	sweeps := models.Sweeps(a.db, a.h.cfg.EventRetention)
	for _, s := range sweeps {
		wg.Go(func() { models.Sweep(ctx, sweepEvery, log, s.What, s.Run) })
	}
	// Not a sweep of rows: the legacy-hash dummy follows imports.
	wg.Go(func() {
		models.Sweep(ctx, sweepEvery, log, "legacy hash dummy", func(ctx context.Context) (int64, error) {
			_, err := models.RefreshLegacyDummy(ctx, a.db, a.hasher)
			return 0, err
		})
	})
	wg.Go(func() { a.h.probe.Watch(ctx, log, time.Second, a.h.cfg.IntegrityCheckEvery) })
	wg.Go(func() { a.worker.Run(ctx) })
	wg.Go(func() { a.h.store.RunTouches(ctx, a.h.cfg.TouchFlushEvery) })
	wg.Wait()
}
