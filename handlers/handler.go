// Package handlers holds Gatehouse's HTTP layer: Gin routes (all in
// routes.go), middleware, and one file of handlers per area.
package handlers

import (
	"gatehouse/internal/upstream"
	"log/slog"
	"sync/atomic"

	"gatehouse/auth"
	"gatehouse/internal/settings"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

// Config is the app's configuration (internal/settings): one struct, its
// defaults in one place.
type Config = settings.Config

// Handler holds what every route shares: the configuration, the log, the
// session store and the user lookup; the area types below embed it.
type Handler struct {
	log   *slog.Logger
	cfg   Config
	users *models.Users
	store *websession.SessionStore
	probe *models.Probe // /readyz's database check (ready.go)
	// groups are the group queries, one for the app: NamesOf keeps its
	// prepared statement in it.
	groups *models.Groups
	// providers are the other sign-in providers (SOCIAL_PROVIDERS): the
	// login page offers them (social.go).
	providers *upstream.Set
}

// The handlers of each area are methods of their own type, which holds the
// shared Handler (configuration, the session store, rendering, middleware)
// and what only that area uses.
type (
	// signInPages: log in and out, sign up, password reset (auth.go,
	// signup.go, reset.go).
	signInPages struct {
		*Handler
		accounts *auth.Accounts
		tokens   *models.Tokens
		// loginPlain is the login page for a visitor with no flash and
		// no ?next=, one per language (prerender.go).
		loginPlain prerenderedSet
	}
	// accountPages: the signed-in user's own account: profile, e-mail,
	// password, sessions, activity, deletion, re-authentication.
	accountPages struct {
		*Handler
		accounts *auth.Accounts
		events   *models.Events
	}
	// adminPages: the staff admin (admin.go, overview.go).
	adminPages struct {
		*Handler
		accounts *auth.Accounts
		sessions *models.Sessions
		events   *models.Events
		outbox   *models.Outbox // failed mail on the overview
	}
	// mfaPages: second factors and passkeys (mfa.go).
	mfaPages struct {
		*Handler
		accounts *auth.Accounts
	}
)

// middleware is the request stack (middleware.go) and the guards of route
// groups: sign-in, staff, sudo (sudo.go), plus the health checks.
type middleware struct {
	*Handler
	// xffWarned: see warnUntrustedForwarding.
	xffWarned atomic.Bool
	// csp is the Content-Security-Policy of every response (cspFor).
	csp []string
}
