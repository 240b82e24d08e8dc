package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gatehouse/auth"
	"gatehouse/handlers"
	"gatehouse/mail"
	"gatehouse/models"
)

// config is the app's configuration, read from the environment in two
// parts: loadConfig reads what every command needs (the database, hashing,
// logging); loadServerConfig adds what only the server needs. A bad
// server-only variable therefore never blocks help, createsuperuser or
// changepassword.
type config struct {
	// Every command.
	databaseURL      string
	logLevel         slog.Level
	logFormat        string // text or json
	hashConcurrency  int
	hashQueueTimeout time.Duration
	busyTimeout      time.Duration
	db               dbSettings
	// smtpURL and mailFrom are needed by the server, and checked there;
	// commands that queue mail leave it to the server's outbox worker.

	// The server only (loadServerConfig).
	addr string
	// baseURLFromAddr is set when BASE_URL was not given: serve derives it
	// from the address it listens on, and says so.
	baseURLFromAddr bool
	smtpURL         string
	mailFrom        string
	metricsAddr     string // METRICS_ADDR; "" = no metrics
	secretKey       string // SECRET_KEY: seals 2FA secrets (checked by check.go, needed by serve once 2FA is used)
	gcPercent       *int   // GOGC; nil: the server's default
	memoryLimit     *int64 // GOMEMLIMIT in bytes; nil: the server's default
	http            handlers.Config
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
	c := config{databaseURL: env.get("DATABASE_URL", "gatehouse.db")}
	var errs []error
	switch strings.ToLower(env.get("LOG_LEVEL", "info")) {
	case "debug":
		c.logLevel = slog.LevelDebug
	case "info":
		c.logLevel = slog.LevelInfo
	case "warn", "warning":
		c.logLevel = slog.LevelWarn
	case "error":
		c.logLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", getenv("LOG_LEVEL")))
	}
	switch c.logFormat = strings.ToLower(env.get("LOG_FORMAT", "text")); c.logFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", getenv("LOG_FORMAT")))
	}
	errs = append(errs, loadDBSettings(env.get, &c.db)...)
	errs = append(errs, parseDurations(env, []durationVar{
		{"HASH_QUEUE_TIMEOUT", 3 * time.Second, &c.hashQueueTimeout},
		{"DATABASE_BUSY_TIMEOUT", models.DefaultBusyTimeout, &c.busyTimeout},
	})...)
	if v := env.get("HASH_CONCURRENCY", "0"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1024 {
			errs = append(errs, fmt.Errorf("HASH_CONCURRENCY: %q is not a number from 0 (automatic) to 1024", v))
		}
		c.hashConcurrency = n
	}
	return c, errors.Join(errs...)
}

// loadServerConfig reads and checks, into c, what only the server needs.
func loadServerConfig(getenv func(string) string, c *config) error {
	env := envReader(getenv)
	c.addr = env.get("ADDR", ":8080")
	c.smtpURL = env.get("SMTP_URL", "")
	c.mailFrom = env.get("MAIL_FROM", "Gatehouse <webmaster@localhost>")
	c.metricsAddr = env.get("METRICS_ADDR", "")
	c.secretKey = env.get("SECRET_KEY", "")
	c.http.SecretKey = c.secretKey
	c.http.BaseURL = strings.TrimRight(env.get("BASE_URL", ""), "/")
	c.http.LoginURL = env.get("LOGIN_URL", handlers.DefaultLoginURL)
	c.http.LoginRedirectURL = env.get("LOGIN_REDIRECT_URL", "/")
	c.http.LogoutRedirectURL = env.get("LOGOUT_REDIRECT_URL", "/")

	var errs []error
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		errs = append(errs, fmt.Errorf("ADDR: %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.addr))
	}
	if _, _, err := net.SplitHostPort(c.metricsAddr); c.metricsAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR: %q is not host:port (e.g. 127.0.0.1:9090)", c.metricsAddr))
	}
	if c.http.BaseURL == "" {
		c.baseURLFromAddr = true
		if len(errs) == 0 {
			// serve replaces it with the port it actually listens on (ADDR
			// may say :0); this is the value tests and messages see before.
			c.http.BaseURL = clickableURL(c.addr)
		}
	} else if u, err := url.Parse(c.http.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BASE_URL: %q is not an http(s) URL such as https://auth.example.com", c.http.BaseURL))
	}
	if c.smtpURL != "" {
		// The URL holds a password: errors describe it, never echo it.
		if _, err := mail.NewSMTP(c.smtpURL, c.mailFrom); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := netmail.ParseAddress(c.mailFrom); err != nil {
		errs = append(errs, fmt.Errorf("MAIL_FROM: %q is not an address such as \"Gatehouse <noreply@example.com>\"", c.mailFrom))
	}
	for _, k := range []string{"LOGIN_URL", "LOGIN_REDIRECT_URL", "LOGOUT_REDIRECT_URL"} {
		if v := env.get(k, "/"); !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			errs = append(errs, fmt.Errorf("%s: %q must be a local path starting with /", k, v))
		}
	}
	errs = append(errs, parseDurations(env, []durationVar{
		{"SESSION_LIFETIME", handlers.DefaultSessionLifetime, &c.http.SessionLifetime},
		{"SESSION_IDLE_TIMEOUT", handlers.DefaultSessionIdleTimeout, &c.http.SessionIdleTimeout},
		{"EVENT_RETENTION", models.DefaultEventRetention, &c.http.EventRetention},
		{"REAUTH_TIMEOUT", auth.DefaultReauthTimeout, &c.http.ReauthTimeout},
		{"PASSWORD_RESET_TIMEOUT", models.DefaultResetTimeout, &c.http.PasswordResetTimeout},
		{"THROTTLE_BLOCK", handlers.DefaultThrottleBlock, &c.http.ThrottleBlock},
		{"THROTTLE_MAX_BLOCK", handlers.DefaultThrottleMaxBlock, &c.http.ThrottleMaxBlock},
		{"MAIL_RETRY_FOR", mail.DefaultRetryFor, &c.http.Outbox.RetryFor},
		{"MAIL_RETRY_MAX_INTERVAL", mail.DefaultRetryMaxInterval, &c.http.Outbox.MaxBackoff},
	})...)
	c.http.Outbox.InstanceID = env.get("INSTANCE_ID", "")
	if id := c.http.Outbox.InstanceID; len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("INSTANCE_ID: %q is not up to 64 printable ASCII characters without spaces (e.g. web-1)", id))
	} else if id == "" {
		c.http.Outbox.InstanceID = defaultInstanceID(c.addr)
	}
	if v := env.get("REQUIRE_2FA_FOR_STAFF", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF: %q is not true or false", v))
		case b && len(c.secretKey) < models.MinSecretKeyLen:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF needs SECRET_KEY (at least %d random characters; e.g. `openssl rand -base64 48`)", models.MinSecretKeyLen))
		}
		c.http.Require2FAForStaff = b
	}
	switch c.http.EmailVerification = strings.ToLower(env.get("EMAIL_VERIFICATION", auth.VerifyOptional)); c.http.EmailVerification {
	case auth.VerifyOptional, auth.VerifyMandatory, auth.VerifyNone:
	default:
		errs = append(errs, fmt.Errorf("EMAIL_VERIFICATION: %q is not optional, mandatory or none", getenv("EMAIL_VERIFICATION")))
	}
	if v := env.get("MAX_PASSKEYS", strconv.Itoa(auth.DefaultMaxPasskeys)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Errorf("MAX_PASSKEYS: %q is not a number from 1 to 100 (e.g. 10)", v))
		}
		c.http.MaxPasskeys = n
	}
	switch strings.ToLower(env.get("NEW_DEVICE_NOTICE", "on")) {
	case "on", "true", "1":
		c.http.NewDeviceNotice = true
	case "off", "false", "0":
	default:
		errs = append(errs, fmt.Errorf("NEW_DEVICE_NOTICE: %q is not on or off", getenv("NEW_DEVICE_NOTICE")))
	}
	if c.http.ThrottleMaxBlock < c.http.ThrottleBlock {
		errs = append(errs, fmt.Errorf("THROTTLE_MAX_BLOCK: %s is shorter than THROTTLE_BLOCK %s", c.http.ThrottleMaxBlock, c.http.ThrottleBlock))
	}
	limits := []struct {
		key string
		def models.Limit
		dst *models.Limit
	}{
		{"LOGIN_LIMIT_PER_USER_IP", handlers.DefaultLoginLimitPerUserIP, &c.http.LoginLimitPerUserIP},
		{"LOGIN_LIMIT_PER_IP", handlers.DefaultLoginLimitPerIP, &c.http.LoginLimitPerIP},
		{"PASSWORD_RESET_LIMIT_PER_EMAIL", handlers.DefaultPasswordResetLimitPerEmail, &c.http.PasswordResetLimitPerEmail},
		{"PASSWORD_RESET_LIMIT_PER_IP", handlers.DefaultPasswordResetLimitPerIP, &c.http.PasswordResetLimitPerIP},
		{"SIGNUP_LIMIT_PER_IP", handlers.DefaultSignupLimitPerIP, &c.http.SignupLimitPerIP},
		{"SIGNUP_CHECK_LIMIT_PER_IP", handlers.DefaultSignupCheckLimitPerIP, &c.http.SignupCheckLimitPerIP},
	}
	for _, l := range limits {
		v, err := models.ParseLimit(env.get(l.key, l.def.String()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", l.key, err))
			continue
		}
		*l.dst = v
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
			c.http.TrustedProxies = append(c.http.TrustedProxies, p)
		}
	}
	if v := env.get("DEBUG", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEBUG: %q is not true or false", v))
		}
		c.http.Debug = b
	}
	if v := getenv("GOGC"); v != "" {
		n, err := parseGOGC(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GOGC: %q is not a whole number (a percentage such as 100 or 400) or off", v))
		}
		c.gcPercent = &n
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		n, err := parseGOMEMLIMIT(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GOMEMLIMIT: %q is not a size such as 256MiB, 1GiB or 1000000000 (bytes), or off", v))
		}
		c.memoryLimit = &n
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
