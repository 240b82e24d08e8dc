// Package core wires the parts of Gatehouse that are not HTTP: the
// database's operations, the use cases (auth.Accounts), the outbox and the
// worker that sends its mail, and the background sweeps. `serve` builds a
// Core and adds the router (handlers.NewApp); management commands build a
// Core alone, so their changes go through the same flows (events, queued
// notices) without a router.
package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/passhash"
	"gatehouse/internal/settings"
	"gatehouse/mail"
	"gatehouse/models"
)

// ReadyInterval is how long a readiness answer is reused (Probe).
const ReadyInterval = time.Second

// SweepEvery is how often expired rows are swept.
const SweepEvery = 10 * time.Minute

// Core is the app without HTTP.
type Core struct {
	Log      *slog.Logger
	DB       *gorm.DB
	Hasher   *passhash.Hasher
	Accounts *auth.Accounts
	Users    *models.Users
	Sessions *models.Sessions
	Tokens   *models.Tokens
	Events   *models.Events
	Outbox   *models.Outbox
	Probe    *models.Probe
	// OIDC is the OpenID provider; nil without SECRET_KEY, or when its
	// keys could not be read: OIDCOff says why.
	OIDC *oidcop.Provider
	// OIDCOff is why OIDC is nil: oidcop.ErrUnavailable (no SECRET_KEY,
	// and no keys made yet), oidcop.ErrKeysSealed (keys exist that this
	// SECRET_KEY, or the lack of one, cannot open), or another error.
	OIDCOff error
	worker  *mail.Worker
	cfg     settings.Config
}

// New wires the core over db, hashing passwords with hasher, configured by
// cfg (defaults applied to what it leaves empty).
func New(log *slog.Logger, db *gorm.DB, hasher *passhash.Hasher, cfg settings.Config) *Core {
	cfg.SetDefaults()
	outbox := models.NewOutbox(db)
	outbox.SetSecret(cfg.SecretKey)
	accounts := auth.NewAccounts(db, hasher, outbox, cfg.Policy())
	if _, err := models.RefreshLegacyDummy(context.Background(), db, hasher); err != nil {
		log.Warn("legacy hash dummy not set", "err", err)
	}
	provider, oidcOff := newProvider(log, db, cfg)
	return &Core{
		OIDC: provider, OIDCOff: oidcOff,
		Log: log, DB: db, Hasher: hasher, Accounts: accounts, Outbox: outbox,
		Users:    models.NewUsers(db, hasher),
		Sessions: models.NewSessions(db),
		Tokens:   models.NewTokens(db),
		Events:   models.NewEvents(db),
		Probe:    models.NewProbe(db, ReadyInterval),
		worker:   newWorker(log, outbox, accounts, provider, cfg),
		cfg:      cfg,
	}
}

// newProvider starts the OpenID provider, or says why it is off. Keys
// sealed under another SECRET_KEY (a lost DATABASE.secret-key file, a
// changed key) keep it off with a plain error: starting over with new
// keys would change every account's sub under the apps.
func newProvider(log *slog.Logger, db *gorm.DB, cfg settings.Config) (*oidcop.Provider, error) {
	ctx := context.Background()
	if len(cfg.SecretKey) < models.MinSecretKeyLen {
		if errors.Is(oidcop.CheckKeys(ctx, db, ""), oidcop.ErrUnavailable) {
			log.Error("openid provider off: it has signing keys but SECRET_KEY is unset; restore the key they were made with (SECRET_KEY, or the DATABASE.secret-key file from a backup) and restart (docs/oidc.md)")
			return nil, oidcop.ErrKeysSealed
		}
		return nil, oidcop.ErrUnavailable
	}
	p, err := oidcop.New(ctx, log, db, oidcop.Options{
		Issuer: cfg.BaseURL, SecretKey: cfg.SecretKey, Metrics: cfg.Metrics,
		AccessTokenLifetime: cfg.OIDCAccessTokenLifetime, IDTokenLifetime: cfg.OIDCAccessTokenLifetime,
		RefreshTokenLifetime: cfg.OIDCRefreshTokenLifetime,
	})
	switch {
	case errors.Is(err, oidcop.ErrKeysSealed):
		log.Error("openid provider off: its signing keys were sealed with another SECRET_KEY; restore the key they were made with (SECRET_KEY, or the DATABASE.secret-key file from a backup) and restart (docs/oidc.md)")
	case err != nil:
		log.Error("openid provider unavailable", "err", err)
	}
	return p, err
}

// Sweeps are the background deletions of expired rows: the one list the
// server runs every SweepEvery and clearsessions runs once.
func (c *Core) Sweeps() []models.SweepJob { return models.Sweeps(c.DB, c.cfg.EventRetention) }

// Run does the background work until ctx ends: the outbox worker, the
// sweeps of expired sessions, stale throttle counters, expired tokens, old
// outbox rows and security events past their retention, the legacy-hash
// dummy's refresh and the database file's watch. Run returns once the
// worker has finished what it held (unsent mail stays in the outbox for
// the next start).
func (c *Core) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range c.Sweeps() {
		wg.Go(func() { models.Sweep(ctx, SweepEvery, c.Log, s.What, s.Run) })
	}
	// Not a sweep of rows: the legacy-hash dummy follows imports.
	wg.Go(func() {
		models.Sweep(ctx, SweepEvery, c.Log, "legacy hash dummy", func(ctx context.Context) (int64, error) {
			_, err := models.RefreshLegacyDummy(ctx, c.DB, c.Hasher)
			return 0, err
		})
	})
	wg.Go(func() { c.Probe.Watch(ctx, c.Log, time.Second, c.cfg.IntegrityCheckEvery) })
	wg.Go(func() { c.worker.Run(ctx) })
	wg.Wait()
}

// newWorker is the outbox worker: cfg's mailer and tuning, its failures
// counted in cfg's metrics.
func newWorker(log *slog.Logger, outbox *models.Outbox, accounts *auth.Accounts, provider *oidcop.Provider, cfg settings.Config) *mail.Worker {
	opts := cfg.Outbox
	opts.OnFailure = cfg.Metrics.OutboxFailed
	jobs := func(ctx context.Context, m *models.OutboxMessage) error {
		if m.Kind != models.KindOIDCBackchannelLogout {
			return accounts.ProcessResetRequest(ctx, m)
		}
		if provider == nil {
			// Off (no SECRET_KEY, keys sealed): nothing can sign the
			// token; retried until the outbox gives up.
			return errors.New("back-channel logout: the OpenID provider is off")
		}
		return provider.BackchannelLogout(ctx, m)
	}
	return mail.NewWorker(outbox, cfg.Mailer, jobs, cfg.BaseURL, log, opts)
}
