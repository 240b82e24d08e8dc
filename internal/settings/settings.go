// Package settings holds Gatehouse's one configuration struct and every
// default: the root reads the environment into it, and it flows unchanged
// to the core (internal/core), the HTTP layer (handlers) and, as
// Policy(), to the security flows.
package settings

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/access"
	"gatehouse/internal/locale"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
	"gatehouse/mail"
	"gatehouse/metrics"
	"gatehouse/models"
)

// Config is the app's whole configuration: what every command reads (the
// database, hashing, logging), what the server adds, and what the HTTP
// layer, the core and the security flows take from it. Load fills it from
// the environment (the root's config.go); SetDefaults fills what is left
// empty, with the defaults below: the one place for them.
type Config struct {
	// DatabaseURL is a SQLite file path or a postgres:// URL.
	DatabaseURL string
	// LogLevel and LogFormat ("text" or "json") shape the log.
	LogLevel  slog.Level
	LogFormat string
	// HashConcurrency bounds hashes in flight (0: automatic);
	// HashQueueTimeout how long a request waits for a slot.
	HashConcurrency  int
	HashQueueTimeout time.Duration
	// Addr is where the server listens; BaseURLFromAddr is set when
	// BASE_URL was not given (serve derives it from the address it
	// listens on, and says so).
	Addr            string
	BaseURLFromAddr bool
	// SMTPURL and MailFrom configure the mailer (console when SMTPURL is
	// empty); MetricsAddr the metrics listener ("" = no metrics).
	SMTPURL     string
	MailFrom    string
	MetricsAddr string
	// GCPercent and MemoryLimit are GOGC and GOMEMLIMIT; nil: the
	// server's defaults (gc.go).
	GCPercent   *int
	MemoryLimit *int64
	// BaseURL is the site's public address, for links in e-mails; an
	// https:// base turns on Secure cookies.
	BaseURL           string
	LoginURL          string
	LoginRedirectURL  string
	LogoutRedirectURL string
	// LanguageCode is the interface language when neither the user's
	// choice nor Accept-Language gives one (LANGUAGE_CODE; a code of
	// locale.Languages, default "en").
	LanguageCode    string
	SessionLifetime time.Duration
	// TrustedProxies lists proxy addresses whose X-Forwarded-For is
	// believed; empty means the peer address is the client.
	TrustedProxies []string
	// MaxBodyBytes caps request bodies; larger ones answer 413.
	MaxBodyBytes int64
	// Metrics receives the app's metrics; nil turns them off.
	Metrics *metrics.Metrics
	// Debug puts Gin in debug mode (route table and request log on stderr).
	Debug bool
	// SessionIdleTimeout ends a session that was not "remembered" after
	// this long without a request.
	SessionIdleTimeout time.Duration
	// Mailer sends e-mail; nil prints messages to standard output.
	Mailer mail.Mailer
	// Outbox tunes the outbox worker (polling, retries, back-off).
	Outbox mail.WorkerOptions
	// TouchFlushEvery is how often sessions' last_seen_at is written
	// (websession.TouchFlushEvery when 0).
	TouchFlushEvery time.Duration
	// EventRetention is how long security events are kept.
	EventRetention time.Duration
	// OIDCAccessTokenLifetime (OIDC_ACCESS_TOKEN_LIFETIME) is how long the
	// OpenID provider's access and ID tokens last;
	// OIDCRefreshTokenLifetime (OIDC_REFRESH_TOKEN_LIFETIME) how long a
	// refresh token lasts unused (each use rotates it and starts again).
	OIDCAccessTokenLifetime  time.Duration
	OIDCRefreshTokenLifetime time.Duration
	// PasswordResetTimeout is how long a reset link works.
	PasswordResetTimeout time.Duration
	// PasswordResetThrottle is how long after a reset mail no second one
	// goes to the same account while the first link is still unused.
	PasswordResetThrottle time.Duration
	// LoginLimitPerUserIP limits failed logins for one username from one
	// client address; LoginLimitPerIP limits failed logins from one client
	// address whatever the username. Zero values take the defaults; a Max
	// below zero turns a limit off.
	LoginLimitPerUserIP models.Limit
	LoginLimitPerIP     models.Limit
	// PasswordResetLimitPerEmail limits reset requests for one address
	// (known or not, so the limit reveals nothing); over it the request is
	// answered as usual and silently dropped. PasswordResetLimitPerIP
	// limits reset requests from one client address; over it the form
	// answers 429.
	PasswordResetLimitPerEmail models.Limit
	PasswordResetLimitPerIP    models.Limit
	// SignupLimitPerIP limits sign-ups that reach password hashing from one
	// client address. SignupCheckLimitPerIP limits username look-ups (the
	// live check and the final POST) from one client address, so taken
	// names cannot be enumerated at scale.
	SignupLimitPerIP      models.Limit
	SignupCheckLimitPerIP models.Limit
	// ThrottleBlock is how long a key over its limit is first blocked;
	// each further block doubles it, up to ThrottleMaxBlock.
	ThrottleBlock    time.Duration
	ThrottleMaxBlock time.Duration
	// SecretKey (SECRET_KEY) seals two-factor secrets; without it 2FA is
	// not available. Require2FAForStaff (REQUIRE_2FA_FOR_STAFF) makes staff
	// set up a second factor before the admin opens.
	SecretKey          string
	Require2FAForStaff bool
	// SecondFactorLimit limits second-factor codes per account (zero:
	// auth.DefaultSecondFactorLimit, 5 per 15 minutes, blocks doubling).
	SecondFactorLimit models.Limit
	// ReauthTimeout is how long a password confirmation ("sudo mode")
	// lets the user make sensitive changes.
	ReauthTimeout time.Duration
	// EmailVerification is "optional" (default: a banner until the
	// address is confirmed), "mandatory" (no sign-in before) or "none".
	EmailVerification string
	// NewDeviceNotice mails a notice when an account signs in from a
	// browser it has not used before (NEW_DEVICE_NOTICE, on unless
	// turned off; the zero Config leaves it off, as the tests expect).
	NewDeviceNotice bool
	// MaxPasskeys bounds the passkeys of one account (MAX_PASSKEYS, 10).
	MaxPasskeys int
	// DatabaseTimeout bounds each request's database work, on either
	// database (DATABASE_BUSY_TIMEOUT; models.DefaultBusyTimeout when 0):
	// past it the request's transaction rolls back and it answers 503.
	DatabaseTimeout time.Duration
	// AccessRules are forward auth's rules (ACCESS_RULES, a YAML file in
	// Authelia's access_control format; reloaded on SIGHUP). nil: every
	// signed-in active user may enter.
	AccessRules *access.Store
	// SessionCookieDomain (SESSION_COOKIE_DOMAIN, Django's name), e.g.
	// ".example.com": the session cookie covers that domain's hosts, and an
	// absolute next within it is followed. "" keeps the cookie to this
	// host (with the __Host- prefix over https).
	SessionCookieDomain string
	// IntegrityCheckEvery is how often SQLite's quick_check runs in the
	// background (1h when 0); /readyz reports a failure.
	IntegrityCheckEvery time.Duration
	// SocialProviders are the other sign-in providers (SOCIAL_PROVIDERS,
	// a YAML file; none when unset). SocialEmailAuthentication
	// (SOCIAL_EMAIL_AUTHENTICATION, off) connects a provider's identity to
	// the account with the same address when both have it verified.
	SocialProviders           []upstream.ProviderConfig
	SocialEmailAuthentication bool
	// SocialLimitPerIP limits sign-ins through other providers started
	// from one client address (SOCIAL_LIMIT_PER_IP).
	SocialLimitPerIP models.Limit
}

// DefaultLanguageCode is LANGUAGE_CODE's default, as Django's.
const DefaultLanguageCode = "en"

// DefaultLoginURL is LOGIN_URL's default: the login route.
var DefaultLoginURL = route.URL(route.Login)

// Defaults for settings left empty.
const (
	DefaultSessionLifetime    = auth.DefaultSessionLifetime
	DefaultSessionIdleTimeout = 12 * time.Hour
	DefaultMaxBodyBytes       = 1 << 20
	// DefaultResetThrottle allows one reset mail per account per five
	// minutes while its link is unused.
	DefaultResetThrottle    = auth.DefaultResetThrottle
	DefaultThrottleBlock    = time.Minute
	DefaultThrottleMaxBlock = time.Hour
)

// Default login limits: a person mistyping a password gets five tries per
// quarter hour from their own address; one address (an office NAT, say) gets
// fifty failures per quarter hour across all usernames.
var (
	DefaultLoginLimitPerUserIP = models.Limit{Max: 5, Window: 15 * time.Minute}
	DefaultLoginLimitPerIP     = models.Limit{Max: 50, Window: 15 * time.Minute}
)

// Default quotas for reset requests and sign-ups. Unlike the login limits
// they are quotas: a key that uses its quota is blocked for a whole window
// (see quota), so "3/1h" really means three an hour.
var (
	// DefaultPasswordResetLimitPerEmail: three mails an hour is plenty for
	// someone who lost a message, and bounds what a stranger can send them.
	DefaultPasswordResetLimitPerEmail = models.Limit{Max: 3, Window: time.Hour}
	// DefaultPasswordResetLimitPerIP leaves room for a shared office
	// address while stopping one client from spraying addresses.
	DefaultPasswordResetLimitPerIP = models.Limit{Max: 20, Window: time.Hour}
	// DefaultSignupLimitPerIP: ten new accounts an hour from one address.
	DefaultSignupLimitPerIP = models.Limit{Max: 10, Window: time.Hour}
	// DefaultSignupCheckLimitPerIP: a person typing a username with the
	// live check (debounced) makes a few dozen look-ups at most; 300 per
	// quarter hour never gets in their way but caps enumeration of taken
	// names at about 1,200 an hour per address.
	DefaultSignupCheckLimitPerIP = models.Limit{Max: 300, Window: 15 * time.Minute}
	// DefaultSocialLimitPerIP: a person clicks "Continue with …" a few
	// times; 60 per quarter hour leaves room for an office behind one
	// address.
	DefaultSocialLimitPerIP = models.Limit{Max: 60, Window: 15 * time.Minute}
)

// SetDefaults fills every setting left at its zero value.
func (c *Config) SetDefaults() {
	if c.LoginURL == "" {
		c.LoginURL = DefaultLoginURL
	}
	if c.LoginRedirectURL == "" {
		c.LoginRedirectURL = route.URL(route.Home)
	}
	if c.LogoutRedirectURL == "" {
		c.LogoutRedirectURL = route.URL(route.Home)
	}
	if !locale.Supported(c.LanguageCode) {
		c.LanguageCode = DefaultLanguageCode
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.SessionIdleTimeout <= 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.EventRetention <= 0 {
		c.EventRetention = models.DefaultEventRetention
	}
	if c.OIDCAccessTokenLifetime <= 0 {
		c.OIDCAccessTokenLifetime = oidcop.DefaultAccessTokenLifetime
	}
	if c.OIDCRefreshTokenLifetime <= 0 {
		c.OIDCRefreshTokenLifetime = oidcop.DefaultRefreshTokenLifetime
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Mailer == nil {
		c.Mailer = mail.NewConsole(os.Stdout, "Gatehouse <webmaster@localhost>")
	}
	if c.PasswordResetTimeout <= 0 {
		c.PasswordResetTimeout = models.DefaultResetTimeout
	}
	if c.PasswordResetThrottle <= 0 {
		c.PasswordResetThrottle = DefaultResetThrottle
	}
	if c.EmailVerification == "" {
		c.EmailVerification = auth.VerifyOptional
	}
	if c.IntegrityCheckEvery <= 0 {
		c.IntegrityCheckEvery = time.Hour
	}
	if c.DatabaseTimeout <= 0 {
		c.DatabaseTimeout = models.DefaultBusyTimeout
	}
	if c.ReauthTimeout <= 0 {
		c.ReauthTimeout = auth.DefaultReauthTimeout
	}
	if c.ThrottleBlock <= 0 {
		c.ThrottleBlock = DefaultThrottleBlock
	}
	if c.ThrottleMaxBlock <= 0 {
		c.ThrottleMaxBlock = DefaultThrottleMaxBlock
	}
	c.ThrottleMaxBlock = max(c.ThrottleMaxBlock, c.ThrottleBlock)
	c.LoginLimitPerUserIP = c.limit(c.LoginLimitPerUserIP, DefaultLoginLimitPerUserIP)
	c.LoginLimitPerIP = c.limit(c.LoginLimitPerIP, DefaultLoginLimitPerIP)
	c.PasswordResetLimitPerEmail = c.quota(c.PasswordResetLimitPerEmail, DefaultPasswordResetLimitPerEmail)
	c.PasswordResetLimitPerIP = c.quota(c.PasswordResetLimitPerIP, DefaultPasswordResetLimitPerIP)
	c.SignupLimitPerIP = c.quota(c.SignupLimitPerIP, DefaultSignupLimitPerIP)
	c.SignupCheckLimitPerIP = c.quota(c.SignupCheckLimitPerIP, DefaultSignupCheckLimitPerIP)
	c.SocialLimitPerIP = c.quota(c.SocialLimitPerIP, DefaultSocialLimitPerIP)
}

// limit fills a limit left at its zero value with def and sets the block
// durations, so every limit backs off the same way.
func (c *Config) limit(l, def models.Limit) models.Limit {
	if l == (models.Limit{}) {
		l = def
	}
	l.Block, l.MaxBlock = c.ThrottleBlock, c.ThrottleMaxBlock
	return l
}

// quota is limit for a quota rather than a guess counter: the key that uses
// up its quota is blocked for one whole window (doubling on repeat up to
// ThrottleMaxBlock, or the window if that is longer). With login's short
// first block, "3/1h" would let through three more every minute.
func (c *Config) quota(l, def models.Limit) models.Limit {
	l = c.limit(l, def)
	if l.Enabled() {
		l.Block, l.MaxBlock = l.Window, max(l.Window, c.ThrottleMaxBlock)
	}
	return l
}

// Policy is the part of the configuration the security flows apply.
func (c *Config) Policy() auth.Policy {
	return auth.Policy{
		SessionLifetime: c.SessionLifetime, SessionIdleTimeout: c.SessionIdleTimeout, ResetTimeout: c.PasswordResetTimeout, ResetThrottle: c.PasswordResetThrottle,
		LoginPerUserIP: c.LoginLimitPerUserIP, LoginPerIP: c.LoginLimitPerIP,
		ResetPerEmail: c.PasswordResetLimitPerEmail, ResetPerIP: c.PasswordResetLimitPerIP,
		SignupPerIP: c.SignupLimitPerIP, SignupCheckPerIP: c.SignupCheckLimitPerIP,
		EmailVerification: c.EmailVerification, NewDeviceNotice: c.NewDeviceNotice, MaxPasskeys: c.MaxPasskeys,
		SecretKey: c.SecretKey, BaseURL: c.BaseURL, SecondFactorPerUser: c.SecondFactorLimit,
		SocialEmailAuthentication: c.SocialEmailAuthentication, UpstreamPerIP: c.SocialLimitPerIP,
		ProviderNames: providerNames(c.SocialProviders),
	}
}

// providerNames maps each provider's method to its display name.
func providerNames(ps []upstream.ProviderConfig) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Method()] = p.Name
	}
	return m
}

// ParseCookieDomain checks a SESSION_COOKIE_DOMAIN value and returns it
// lower-cased with its leading dot (".example.com"; "example.com" is taken
// as the same). A cookie domain must be a registrable-looking host name: at
// least two labels, no scheme, port, path or IP address.
func ParseCookieDomain(v string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(v))
	d = "." + strings.TrimPrefix(d, ".")
	labels := strings.Split(d[1:], ".")
	ok := len(labels) >= 2 && len(d) <= 254
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			ok = false
			break
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				ok = false
			}
		}
	}
	if ok && net.ParseIP(d[1:]) == nil {
		if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
			ok = false
		}
	}
	if !ok || net.ParseIP(d[1:]) != nil {
		return "", fmt.Errorf("%q is not a domain such as .example.com (a host name of two or more labels, no scheme or port)", v)
	}
	return d, nil
}
