// Package handlers holds Gatehouse's HTTP layer: Gin routes (all in
// routes.go), middleware, and one file of handlers per area.
package handlers

import (
	"log/slog"
	"time"

	"gorm.io/gorm"

	"gatehouse/models"
)

// Config is what the HTTP layer needs from the app's configuration.
type Config struct {
	// BaseURL is the site's public address, for links in e-mails; an
	// https:// base turns on Secure cookies.
	BaseURL           string
	LoginURL          string
	LoginRedirectURL  string
	LogoutRedirectURL string
	SessionLifetime   time.Duration
	// TrustedProxies lists proxy addresses whose X-Forwarded-For is
	// believed; empty means the peer address is the client.
	TrustedProxies []string
	// MaxBodyBytes caps request bodies; larger ones answer 413.
	MaxBodyBytes int64
	// Debug puts Gin in debug mode (route table and request log on stderr).
	Debug bool
}

// Defaults for settings left empty.
const (
	DefaultLoginURL        = "/accounts/login/"
	DefaultSessionLifetime = 14 * 24 * time.Hour // Django's SESSION_COOKIE_AGE
	DefaultMaxBodyBytes    = 1 << 20
)

func (c *Config) setDefaults() {
	if c.LoginURL == "" {
		c.LoginURL = DefaultLoginURL
	}
	if c.LoginRedirectURL == "" {
		c.LoginRedirectURL = "/"
	}
	if c.LogoutRedirectURL == "" {
		c.LogoutRedirectURL = "/"
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Handler holds the dependencies every route shares.
type Handler struct {
	log      *slog.Logger
	cfg      Config
	users    *models.Users
	sessions *models.Sessions
	store    *models.SessionStore
	events   *models.Events
}

// New returns the HTTP layer over db, hashing passwords with hasher.
func New(log *slog.Logger, db *gorm.DB, hasher *models.Hasher, cfg Config) *Handler {
	cfg.setDefaults()
	secure := len(cfg.BaseURL) >= 8 && cfg.BaseURL[:8] == "https://"
	return &Handler{
		log:      log,
		cfg:      cfg,
		users:    models.NewUsers(db, hasher),
		sessions: models.NewSessions(db),
		store:    models.NewSessionStore(db, cfg.SessionLifetime, secure, log),
		events:   models.NewEvents(db),
	}
}
