// Command gatehouse is a user-authentication web app: sign up, log in, log
// out, password change and reset, a staff admin. Run it with no arguments to
// serve; management subcommands (createsuperuser, changepassword,
// clearsessions) work on the same database, like Django's.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"
	"gorm.io/gorm"

	"gatehouse/handlers"
	"gatehouse/mail"
	"gatehouse/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		stop()
		os.Exit(1)
	}
}

const usage = `usage: gatehouse [command] [flags]

commands:
  serve                     run the web server (the default)
  createsuperuser           create a superuser (prompts; --username, --email, --password-stdin)
  changepassword USERNAME   set a user's password (prompts, or --password-stdin)
  clearsessions             delete expired sessions and stale login-throttle counters
  migrate                   apply pending database migrations
  showmigrations            list migrations: [X] applied, [ ] pending
  importdjango SOURCE       import users from a Django database (--dry-run, --allow-skips)
  backup FILE               copy the live SQLite database to FILE and verify it
  restore FILE              replace the (stopped) SQLite database with FILE
  check [--deploy]          check the configuration and database (--deploy: production settings too)

Configuration is read from the environment; see README.md.`

// run is the whole program, so tests can drive it: args without the program
// name, the environment through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg)
	cfg.db.log = log
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		tuneGC(getenv)
		return serve(ctx, cfg, log, stdout)
	case "createsuperuser":
		return createSuperuser(ctx, cfg, args, stdin, stdout)
	case "changepassword":
		return changePassword(ctx, cfg, args, stdin, stdout)
	case "clearsessions":
		return clearSessions(ctx, cfg, stdout)
	case "migrate":
		return migrateCmd(ctx, cfg, args, stdout)
	case "showmigrations":
		return showMigrations(ctx, cfg, args, stdout)
	case "importdjango":
		return importDjango(ctx, cfg, args, stdout, stderr)
	case "check":
		return checkCommand(ctx, cfg, args, stdout)
	case "backup", "restore":
		return backupCommand(ctx, cfg, cmd, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

// config is the app's configuration, read from the environment.
type config struct {
	addr             string
	databaseURL      string
	smtpURL          string
	mailFrom         string
	logLevel         slog.Level
	logFormat        string // text or json
	metricsAddr      string // METRICS_ADDR; "" = no metrics
	secretKey        string // SECRET_KEY: seals 2FA secrets (checked by check.go, needed by serve once 2FA is used)
	hashConcurrency  int
	hashQueueTimeout time.Duration
	busyTimeout      time.Duration
	db               dbSettings
	http             handlers.Config
}

// loadConfig reads and checks the environment. Bad values stop start-up with
// a message naming the variable.
func loadConfig(getenv func(string) string) (config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := config{
		addr:        env("ADDR", ":8080"),
		databaseURL: env("DATABASE_URL", "gatehouse.db"),
		smtpURL:     env("SMTP_URL", ""),
		metricsAddr: env("METRICS_ADDR", ""),
		secretKey:   env("SECRET_KEY", ""),
		mailFrom:    env("MAIL_FROM", "Gatehouse <webmaster@localhost>"),
		http: handlers.Config{
			BaseURL:           strings.TrimRight(env("BASE_URL", "http://localhost:8080"), "/"),
			LoginURL:          env("LOGIN_URL", handlers.DefaultLoginURL),
			LoginRedirectURL:  env("LOGIN_REDIRECT_URL", "/"),
			LogoutRedirectURL: env("LOGOUT_REDIRECT_URL", "/"),
		},
	}
	var errs []error
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		errs = append(errs, fmt.Errorf("ADDR: %q is not host:port (e.g. :8080)", c.addr))
	}
	if _, _, err := net.SplitHostPort(c.metricsAddr); c.metricsAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR: %q is not host:port (e.g. 127.0.0.1:9090)", c.metricsAddr))
	}
	if u, err := url.Parse(c.http.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
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
		if v := env(k, "/"); !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			errs = append(errs, fmt.Errorf("%s: %q must be a local path starting with /", k, v))
		}
	}
	switch strings.ToLower(env("LOG_LEVEL", "info")) {
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
	switch c.http.EmailVerification = strings.ToLower(env("EMAIL_VERIFICATION", models.VerifyOptional)); c.http.EmailVerification {
	case models.VerifyOptional, models.VerifyMandatory, models.VerifyNone:
	default:
		errs = append(errs, fmt.Errorf("EMAIL_VERIFICATION: %q is not optional, mandatory or none", getenv("EMAIL_VERIFICATION")))
	}
	switch c.logFormat = strings.ToLower(env("LOG_FORMAT", "text")); c.logFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", getenv("LOG_FORMAT")))
	}
	durations := []struct {
		key string
		def time.Duration
		dst *time.Duration
	}{
		{"SESSION_LIFETIME", handlers.DefaultSessionLifetime, &c.http.SessionLifetime},
		{"SESSION_IDLE_TIMEOUT", handlers.DefaultSessionIdleTimeout, &c.http.SessionIdleTimeout},
		{"EVENT_RETENTION", models.DefaultEventRetention, &c.http.EventRetention},
		{"HASH_QUEUE_TIMEOUT", 3 * time.Second, &c.hashQueueTimeout},
		{"PASSWORD_RESET_TIMEOUT", models.DefaultResetTimeout, &c.http.PasswordResetTimeout},
		{"DATABASE_BUSY_TIMEOUT", models.DefaultBusyTimeout, &c.busyTimeout},
		{"THROTTLE_BLOCK", handlers.DefaultThrottleBlock, &c.http.ThrottleBlock},
		{"THROTTLE_MAX_BLOCK", handlers.DefaultThrottleMaxBlock, &c.http.ThrottleMaxBlock},
		{"REAUTH_TIMEOUT", models.DefaultReauthTimeout, &c.http.ReauthTimeout},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(env(d.key, d.def.String()))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 336h or 3s", d.key, getenv(d.key)))
			continue
		}
		*d.dst = v
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
		v, err := models.ParseLimit(env(l.key, l.def.String()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", l.key, err))
			continue
		}
		*l.dst = v
	}
	if v := env("HASH_CONCURRENCY", "0"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1024 {
			errs = append(errs, fmt.Errorf("HASH_CONCURRENCY: %q is not a number from 0 (automatic) to 1024", v))
		}
		c.hashConcurrency = n
	}
	if v := env("TRUSTED_PROXIES", ""); v != "" {
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
	if v := env("DEBUG", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DEBUG: %q is not true or false", v))
		}
		c.http.Debug = b
	}
	c.http.SecretKey = c.secretKey
	if v := env("REQUIRE_2FA_FOR_STAFF", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF: %q is not true or false", v))
		case b && len(c.secretKey) < models.MinSecretKeyLen:
			errs = append(errs, fmt.Errorf("REQUIRE_2FA_FOR_STAFF needs SECRET_KEY (at least %d random characters; e.g. `openssl rand -base64 48`)", models.MinSecretKeyLen))
		}
		c.http.Require2FAForStaff = b
	}
	errs = append(errs, loadDBSettings(env, &c.db)...)
	return c, errors.Join(errs...)
}

func openDB(ctx context.Context, cfg config) (*gorm.DB, error) {
	return models.Open(ctx, cfg.databaseURL, append(cfg.db.dbOptions(), models.WithBusyTimeout(cfg.busyTimeout))...)
}

func newHasher(cfg config) *models.Hasher {
	return models.NewHasher(models.DefaultHashParams, cfg.hashConcurrency, cfg.hashQueueTimeout)
}

// newApp builds the app the way serve does, for management commands: their
// changes go through the same flows (events, queued notices). Mail they
// queue is sent by the server's outbox worker.
func newApp(cfg config, db *gorm.DB, stdout io.Writer) (*handlers.App, error) {
	mailer, err := mail.New(cfg.smtpURL, cfg.mailFrom, stdout)
	if err != nil {
		return nil, err
	}
	cfg.http.Mailer = mailer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return handlers.NewApp(log, db, newHasher(cfg), cfg.http), nil
}

// serve runs the web server until ctx ends, then shuts down gracefully:
// requests in flight finish, the background work (outbox worker, sweeps)
// stops — mail not yet sent stays in the outbox for the next start — and
// the database closes.
func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	logDeployWarnings(log, cfg)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	if err := checkSecretKey(ctx, cfg, db, log); err != nil {
		return err
	}

	mailer, err := mail.New(cfg.smtpURL, cfg.mailFrom, stdout)
	if err != nil {
		return err
	}
	cfg.http.Mailer = mailer
	m, stopMetrics, err := startMetrics(cfg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	cfg.http.Metrics = m
	app := handlers.NewApp(log, db, newHasher(cfg), cfg.http)
	srv := &http.Server{
		Handler:           app.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var background sync.WaitGroup
	// The outbox worker and the sweeps: after the server has stopped
	// taking requests, Run finishes the mail it holds, then returns.
	background.Go(func() { app.Run(bg) })

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.http.BaseURL)
	fmt.Fprintf(stdout, "Gatehouse listening on http://%s/\n", ln.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopBG()
	background.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// createSuperuser is Django's createsuperuser: prompts on a terminal (the
// password hidden), or takes --username/--email and --password-stdin.
func createSuperuser(ctx context.Context, cfg config, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("createsuperuser", flag.ContinueOnError)
	fs.SetOutput(stdout)
	username := fs.String("username", "", "username of the new superuser")
	email := fs.String("email", "", "e-mail address of the new superuser")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("createsuperuser: unexpected arguments %q", fs.Args())
	}
	in := newPrompter(stdin, stdout)
	if *username == "" {
		if !in.interactive() {
			return errors.New("createsuperuser: --username is required when not run in a terminal")
		}
		*username = in.line("Username: ")
	}
	if *email == "" && in.interactive() && !*passwordStdin {
		*email = in.line("Email address: ")
	}
	password, err := readNewPassword(in, *passwordStdin, "createsuperuser")
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	app, err := newApp(cfg, db, stdout)
	if err != nil {
		return err
	}
	u, err := app.Accounts().CreateByCommand(ctx, models.NewUser{Username: *username, Email: *email, Password: password, IsStaff: true, IsSuperuser: true}, "createsuperuser")
	if err != nil {
		return fmt.Errorf("createsuperuser: %s", describeCreateError(err))
	}
	fmt.Fprintf(stdout, "Superuser %q created successfully.\n", u.Username)
	return nil
}

// changePassword is Django's changepassword USERNAME.
func changePassword(ctx context.Context, cfg config, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("changepassword", flag.ContinueOnError)
	fs.SetOutput(stdout)
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("changepassword: usage: changepassword [--password-stdin] USERNAME")
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	app, err := newApp(cfg, db, stdout)
	if err != nil {
		return err
	}
	u, err := models.NewUsers(db, nil).ByUsername(ctx, fs.Arg(0))
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("changepassword: user %q does not exist", fs.Arg(0))
	}
	if err != nil {
		return fmt.Errorf("changepassword: %w", err)
	}
	in := newPrompter(stdin, stdout)
	fmt.Fprintf(stdout, "Changing password for user %q\n", u.Username)
	password, err := readNewPassword(in, *passwordStdin, "changepassword")
	if err != nil {
		return err
	}
	// One transaction: the password, its reset links voided, every
	// session ended, the event, the notice queued for the server to mail.
	u, n, err := app.Accounts().SetPasswordByCommand(ctx, u.Username, password)
	if err != nil {
		return fmt.Errorf("changepassword: %s", describeCreateError(err))
	}
	fmt.Fprintf(stdout, "Password changed successfully for user %q; %d session(s) ended.\n", u.Username, n)
	return nil
}

func clearSessions(ctx context.Context, cfg config, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	n, err := models.NewSessions(db).DeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("clearsessions: %w", err)
	}
	fmt.Fprintf(stdout, "Deleted %d expired session(s).\n", n)
	// Stale login-throttle counters are swept here too, so one cron entry
	// keeps both tables small when the server's own sweep is not running.
	n, err = models.NewThrottles(db).DeleteStale(ctx)
	if err != nil {
		return fmt.Errorf("clearsessions: %w", err)
	}
	fmt.Fprintf(stdout, "Deleted %d stale throttle counter(s).\n", n)
	n, err = models.NewTokens(db).DeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("clearsessions: %w", err)
	}
	fmt.Fprintf(stdout, "Deleted %d expired one-time token(s).\n", n)
	return nil
}

func describeCreateError(err error) string {
	var verr *models.ValidationError
	if errors.As(err, &verr) {
		var parts []string
		for _, field := range []string{"username", "email", "password"} {
			for _, m := range verr.Fields[field] {
				parts = append(parts, field+": "+m)
			}
		}
		return strings.Join(parts, "; ")
	}
	if errors.Is(err, models.ErrDuplicateUsername) {
		return "Error: That username is already taken."
	}
	return err.Error()
}

// prompter reads answers from a terminal (hiding passwords) or a pipe.
type prompter struct {
	in  *bufio.Reader
	fd  int
	tty bool
	out io.Writer
}

func newPrompter(stdin io.Reader, stdout io.Writer) *prompter {
	p := &prompter{in: bufio.NewReader(stdin), fd: -1, out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.fd, p.tty = int(f.Fd()), true
	}
	return p
}

func (p *prompter) interactive() bool { return p.tty }

func (p *prompter) line(prompt string) string {
	fmt.Fprint(p.out, prompt)
	s, _ := p.in.ReadString('\n')
	return strings.TrimRight(s, "\r\n")
}

func (p *prompter) hidden(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(p.fd)
	fmt.Fprintln(p.out)
	return string(b), err
}

// readNewPassword reads a new password: one line of stdin with
// --password-stdin, else twice, hidden, from the terminal.
func readNewPassword(p *prompter, fromStdin bool, cmd string) (string, error) {
	if fromStdin {
		s, err := p.in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: read password: %w", cmd, err)
		}
		s = strings.TrimRight(s, "\r\n")
		if s == "" {
			return "", fmt.Errorf("%s: --password-stdin: standard input held no password", cmd)
		}
		return s, nil
	}
	if !p.interactive() {
		return "", fmt.Errorf("%s: no terminal to prompt for the password; use --password-stdin", cmd)
	}
	pw1, err := p.hidden("Password: ")
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	pw2, err := p.hidden("Password (again): ")
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	if pw1 != pw2 {
		return "", fmt.Errorf("%s: Error: Your passwords didn't match.", cmd)
	}
	return pw1, nil
}
