package cli

import (
	"errors"
	"fmt"
	"gatehouse/internal/access"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/locale"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/settings"
	"gatehouse/internal/upstream"
	"gatehouse/mail"
	"gatehouse/models"
)

// config is the app's configuration, read from the environment in two
// parts: loadConfig reads what every command needs (the database, hashing,
// logging); loadServerConfig adds what only the server needs. A bad
// server-only variable therefore never blocks help, createsuperuser or
// changepassword.
type config struct {
	// settings.Config is the one configuration struct: it flows on to the
	// core and the HTTP layer unchanged.
	settings.Config
	// db is how this process opens the database (migrations, pool size).
	db dbSettings
}

// envReader reads variables with defaults, trimming surrounding space.
type envReader func(string) string

func (getenv envReader) get(k, def string) string {
	if v := strings.TrimSpace(getenv(k)); v != "" {
		return v
	}
	return def
}

// loadConfig reads and checks what every command needs. Bad values stop the
// command with a message naming each bad variable, all at once.
func loadConfig(getenv func(string) string) (config, error) {
	env := envReader(getenv)
	c := config{Config: settings.Config{DatabaseURL: env.get("DATABASE_URL", "gatehouse.db")}}
	var errs []error
	switch strings.ToLower(env.get("LOG_LEVEL", "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", getenv("LOG_LEVEL")))
	}
	switch c.LogFormat = strings.ToLower(env.get("LOG_FORMAT", "text")); c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", getenv("LOG_FORMAT")))
	}
	errs = append(errs, loadDBSettings(env.get, &c.db)...)
	errs = append(errs, parseDurations(env, []durationVar{
		{"HASH_QUEUE_TIMEOUT", 3 * time.Second, &c.HashQueueTimeout},
		{"DATABASE_BUSY_TIMEOUT", models.DefaultBusyTimeout, &c.DatabaseTimeout},
	})...)
	if v := env.get("HASH_CONCURRENCY", "0"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1024 {
			errs = append(errs, fmt.Errorf("HASH_CONCURRENCY: %q is not a number from 0 (automatic) to 1024", v))
		}
		c.HashConcurrency = n
	}
	return c, errors.Join(errs...)
}

// loadServerConfig reads and checks, into c, what only the server needs.
func loadServerConfig(getenv func(string) string, c *config) error {
	env := envReader(getenv)
	c.Addr = env.get("ADDR", ":8080")
	c.SMTPURL = env.get("SMTP_URL", "")
	c.MailFrom = env.get("MAIL_FROM", "Gatehouse <webmaster@localhost>")
	c.MetricsAddr = env.get("METRICS_ADDR", "")
	c.SecretKey = env.get("SECRET_KEY", "")
	c.BaseURL = strings.TrimRight(env.get("BASE_URL", ""), "/")
	c.LoginURL = env.get("LOGIN_URL", settings.DefaultLoginURL)
	c.LoginRedirectURL = env.get("LOGIN_REDIRECT_URL", "/")
	c.LogoutRedirectURL = env.get("LOGOUT_REDIRECT_URL", "/")
	c.LanguageCode = env.get("LANGUAGE_CODE", settings.DefaultLanguageCode)

	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("ADDR: %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.Addr))
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR: %q is not host:port (e.g. 127.0.0.1:9090)", c.MetricsAddr))
	}
	if c.BaseURL == "" {
		c.BaseURLFromAddr = true
		if len(errs) == 0 {
			// serve replaces it with the port it actually listens on (ADDR
			// may say :0); this is the value tests and messages see before.
			c.BaseURL = clickableURL(c.Addr)
		}
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BASE_URL: %q is not an http(s) URL such as https://auth.example.com", c.BaseURL))
	}
	if c.SMTPURL != "" {
		// The URL holds a password: errors describe it, never echo it.
		if _, err := mail.NewSMTP(c.SMTPURL, c.MailFrom); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := netmail.ParseAddress(c.MailFrom); err != nil {
		errs = append(errs, fmt.Errorf("MAIL_FROM: %q is not an address such as \"Gatehouse <noreply@example.com>\"", c.MailFrom))
	}
	if !locale.Supported(c.LanguageCode) {
		errs = append(errs, fmt.Errorf("LANGUAGE_CODE: %q is not one of the shipped languages (%s)", c.LanguageCode, locale.Codes()))
	}
	for _, k := range []string{"LOGIN_URL", "LOGIN_REDIRECT_URL", "LOGOUT_REDIRECT_URL"} {
		if v := env.get(k, "/"); !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			errs = append(errs, fmt.Errorf("%s: %q must be a local path starting with /", k, v))
		}
	}
	errs = append(errs, parseDurations(env, []durationVar{
		{"SESSION_LIFETIME", settings.DefaultSessionLifetime, &c.SessionLifetime},
		{"SESSION_IDLE_TIMEOUT", settings.DefaultSessionIdleTimeout, &c.SessionIdleTimeout},
		{"EVENT_RETENTION", models.DefaultEventRetention, &c.EventRetention},
		{"REAUTH_TIMEOUT", auth.DefaultReauthTimeout, &c.ReauthTimeout},
		{"OIDC_ACCESS_TOKEN_LIFETIME", oidcop.DefaultAccessTokenLifetime, &c.OIDCAccessTokenLifetime},
		{"OIDC_REFRESH_TOKEN_LIFETIME", oidcop.DefaultRefreshTokenLifetime, &c.OIDCRefreshTokenLifetime},
		{"PASSWORD_RESET_TIMEOUT", models.DefaultResetTimeout, &c.PasswordResetTimeout},
		{"THROTTLE_BLOCK", settings.DefaultThrottleBlock, &c.ThrottleBlock},
		{"THROTTLE_MAX_BLOCK", settings.DefaultThrottleMaxBlock, &c.ThrottleMaxBlock},
		{"MAIL_RETRY_FOR", mail.DefaultRetryFor, &c.Outbox.RetryFor},
		{"MAIL_RETRY_MAX_INTERVAL", mail.DefaultRetryMaxInterval, &c.Outbox.MaxBackoff},
	})...)
	c.Outbox.InstanceID = env.get("INSTANCE_ID", "")
	if id := c.Outbox.InstanceID; len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("INSTANCE_ID: %q is not up to 64 printable ASCII characters without spaces (e.g. web-1)", id))
	} else if id == "" {
		c.Outbox.InstanceID = defaultInstanceID(c.Addr)
	}
	if v := env.get("REQUIRE_2FA_FOR_STAFF", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF: %q is not true or false", v))
		case b && len(c.SecretKey) < models.MinSecretKeyLen:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF needs SECRET_KEY (at least %d random characters; e.g. `openssl rand -base64 48`)", models.MinSecretKeyLen))
		}
		c.Require2FAForStaff = b
	}
	switch c.EmailVerification = strings.ToLower(env.get("EMAIL_VERIFICATION", auth.VerifyOptional)); c.EmailVerification {
	case auth.VerifyOptional, auth.VerifyMandatory, auth.VerifyNone:
	default:
		errs = append(errs, fmt.Errorf("EMAIL_VERIFICATION: %q is not optional, mandatory or none", getenv("EMAIL_VERIFICATION")))
	}
	if v := env.get("MAX_PASSKEYS", strconv.Itoa(auth.DefaultMaxPasskeys)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("MAX_PASSKEYS: %q is not a number from 1 to 100 (e.g. 10)", v))
		}
		c.MaxPasskeys = n
	}
	switch strings.ToLower(env.get("NEW_DEVICE_NOTICE", "on")) {
	case "on", "true", "1":
		c.NewDeviceNotice = true
	case "off", "false", "0":
	default:
		errs = append(errs, fmt.Errorf("NEW_DEVICE_NOTICE: %q is not on or off", getenv("NEW_DEVICE_NOTICE")))
	}
	if path := env.get("SOCIAL_PROVIDERS", ""); path != "" {
		ps, err := upstream.LoadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("SOCIAL_PROVIDERS: %s: %v", path, err))
		}
		c.SocialProviders = ps
	}
	switch strings.ToLower(env.get("SOCIAL_EMAIL_AUTHENTICATION", "off")) {
	case "on", "true", "1":
		c.SocialEmailAuthentication = true
	case "off", "false", "0":
	default:
		errs = append(errs, fmt.Errorf("SOCIAL_EMAIL_AUTHENTICATION: %q is not on or off", getenv("SOCIAL_EMAIL_AUTHENTICATION")))
	}
	if c.ThrottleMaxBlock < c.ThrottleBlock {
		errs = append(errs, fmt.Errorf("THROTTLE_MAX_BLOCK: %s is shorter than THROTTLE_BLOCK %s", c.ThrottleMaxBlock, c.ThrottleBlock))
	}
	limits := []struct {
		key string
		def models.Limit
		dst *models.Limit
	}{
		{"LOGIN_LIMIT_PER_USER_IP", settings.DefaultLoginLimitPerUserIP, &c.LoginLimitPerUserIP},
		{"LOGIN_LIMIT_PER_IP", settings.DefaultLoginLimitPerIP, &c.LoginLimitPerIP},
		{"PASSWORD_RESET_LIMIT_PER_EMAIL", settings.DefaultPasswordResetLimitPerEmail, &c.PasswordResetLimitPerEmail},
		{"PASSWORD_RESET_LIMIT_PER_IP", settings.DefaultPasswordResetLimitPerIP, &c.PasswordResetLimitPerIP},
		{"SIGNUP_LIMIT_PER_IP", settings.DefaultSignupLimitPerIP, &c.SignupLimitPerIP},
		{"SIGNUP_CHECK_LIMIT_PER_IP", settings.DefaultSignupCheckLimitPerIP, &c.SignupCheckLimitPerIP},
		{"SOCIAL_LIMIT_PER_IP", settings.DefaultSocialLimitPerIP, &c.SocialLimitPerIP},
	}
	for _, l := range limits {
		v, err := models.ParseLimit(env.get(l.key, l.def.String()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", l.key, err))
			continue
		}
		*l.dst = v
	}
	if v := env.get("SESSION_COOKIE_DOMAIN", ""); v != "" {
		d, err := settings.ParseCookieDomain(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SESSION_COOKIE_DOMAIN: %v", err))
		}
		c.SessionCookieDomain = d
	}
	if v := env.get("ACCESS_RULES", ""); v != "" {
		rules, err := access.NewStore(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ACCESS_RULES: %s: %v", v, err))
		}
		c.AccessRules = rules
	}
	if v := env.get("TRUSTED_PROXIES", ""); v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if net.ParseIP(p) == nil {
				if _, _, err := net.ParseCIDR(p); err != nil {
					errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR range", p))
					continue
				}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	if v := env.get("DEBUG", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEBUG: %q is not true or false", v))
		}
		c.Debug = b
	}
	if v := getenv("GOGC"); v != "" {
		n, err := parseGOGC(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GOGC: %q is not a whole number (a percentage such as 100 or 400) or off", v))
		}
		c.GCPercent = &n
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		n, err := parseGOMEMLIMIT(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GOMEMLIMIT: %q is not a size such as 256MiB, 1GiB or 1000000000 (bytes), or off", v))
		}
		c.MemoryLimit = &n
	}
	return errors.Join(errs...)
}

// defaultInstanceID names this instance in its outbox claims when
// INSTANCE_ID is unset: host name and port, which no two running instances
// share, and a restarted one keeps. With port 0 (chosen at start) there is
// none: the worker takes a random one.
func defaultInstanceID(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	host, herr := os.Hostname()
	if err != nil || herr != nil || port == "" || port == "0" {
		return ""
	}
	id := host + ":" + port
	if len(id) > 64 {
		return ""
	}
	return id
}

// durationVar is one variable holding a positive Go duration.
type durationVar struct {
	key string
	def time.Duration
	dst *time.Duration
}

func parseDurations(env envReader, vars []durationVar) []error {
	var errs []error
	for _, d := range vars {
		v, err := time.ParseDuration(env.get(d.key, d.def.String()))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 336h or 3s", d.key, env(d.key)))
			continue
		}
		*d.dst = v
	}
	return errs
}

// clickableURL turns a listen address into the URL a person on this machine
// would open: a wildcard or empty host (":8080", "0.0.0.0:8080",
// "[::]:8080") becomes localhost; an explicit host is kept.
func clickableURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
