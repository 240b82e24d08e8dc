// Package cli is the gatehouse command: the command table, configuration
// from the environment, the server's start and shutdown, and the
// management commands (createsuperuser, changepassword, clearsessions,
// check, migrate, backup, restore, importdjango, outbox), like Django's.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"gorm.io/gorm"

	"gatehouse/handlers"
	"gatehouse/internal/access"
	"gatehouse/internal/core"
	"gatehouse/internal/passhash"
	"gatehouse/mail"
	"gatehouse/models"
)

// Main runs the command line of the process (os.Args) until it is done or
// interrupted, and returns the exit status.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	applyGOMEMLIMIT(processGetenv)
	if err := run(ctx, os.Args[1:], processGetenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		printError(os.Stderr, err)
		return 1
	}
	return 0
}

// printError prints err once, with a pointer to the help when the command
// line was at fault.
func printError(w io.Writer, err error) {
	fmt.Fprintln(w, "gatehouse:", err)
	var uerr *usageError
	if errors.As(err, &uerr) {
		fmt.Fprintln(w, uerr.helpHint())
	}
}

// command is one subcommand. To add one, add an entry to commands: its
// flags are declared on fs by define, which returns the function to run once
// they are parsed (with the positional arguments). Parsing, -h, argument
// counts and error messages are the same for every command (runCommand).
type command struct {
	name    string
	args    string // positional arguments for the usage line: "USERNAME", "[PATH]"
	summary string // one line, for `gatehouse help`
	// server: the command needs the server's configuration too
	// (loadServerConfig); the others only what every command needs.
	server bool
	define func(fs *flag.FlagSet) runFunc
}

// runFunc runs a command once its flags are parsed.
type runFunc func(ctx context.Context, e *env, args []string) error

// env is what a command runs with.
type env struct {
	cfg    config
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// commands lists every subcommand, in the order help shows them.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the web server (the default)", server: true, define: serveCommand},
		{name: "createsuperuser", summary: "create a superuser (staff too); prompts on a terminal", define: createSuperuser},
		{name: "changepassword", args: "USERNAME", summary: "set a user's password and end all their sessions", define: changePassword},
		{name: "clearsessions", summary: "delete expired sessions, stale login-throttle counters and expired links", define: clearSessions},
		{name: "migrate", summary: "apply pending database migrations (safe from several instances at once)", define: migrateCommand},
		{name: "showmigrations", summary: "list the migrations: [X] applied, [ ] pending", define: showMigrationsCommand},
		{name: "importdjango", args: "SOURCE", summary: "import users and their passwords from a Django database (SQLite path or postgres:// URL)", define: importDjangoCommand},
		{name: "outbox", args: "ACTION [ID...]", summary: "mail waiting or failed: list [--failed] shows it, retry (ID... | --failed) sends it again now", define: outboxCmd},
		{name: "group", args: "ACTION [GROUP] [USER]...", summary: "groups: add GROUP USER... (creates GROUP), remove GROUP USER..., list [GROUP]", define: groupCmd},
		{name: "oidc-client", args: "ACTION [ID]", summary: "apps that sign in with Gatehouse: add --name N --redirect-uri URI… [--public] [--skip-consent], list, remove ID", define: oidcClientCmd},
		{name: "oidc-keys", args: "ACTION", summary: "rotate: a new OpenID signing key (the old one stays published until its tokens expire)", server: true, define: oidcKeysCmd},
		{name: "check", summary: "check the configuration and the database (--deploy: production settings too)", server: true, define: checkCmd},
		{name: "backup", args: "FILE", summary: "copy the live SQLite database to FILE and verify it", define: backupCmd("backup")},
		{name: "restore", args: "FILE", summary: "replace the (stopped) SQLite database with the backup FILE", define: backupCmd("restore")},
		{name: "healthcheck", summary: "ask the server on this host (ADDR) whether it is ready: exit 0 when /readyz answers 200", define: healthcheckCmd},
		{name: "help", args: "[COMMAND]", summary: "show this help, or a command's", define: helpCommand},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usageError is a mistake in the command line: main adds a pointer to the
// help after the message.
type usageError struct {
	cmd string // "" for the top level
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// helpHint says where to read how to call cmd.
func (e *usageError) helpHint() string {
	if e.cmd == "" {
		return "Run 'gatehouse help' for the list of commands."
	}
	return fmt.Sprintf("Run 'gatehouse %s -h' for its usage.", e.cmd)
}

// run is the whole program, so tests can drive it: args without the program
// name, the environment through getenv. With no arguments it serves.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			name, args = "help", args[1:]
		case strings.HasPrefix(a, "-"):
			return &usageError{err: fmt.Errorf("unknown flag %s: flags go after the command (gatehouse COMMAND [flags])", a)}
		default:
			name, args = a, args[1:]
		}
	}
	cmd, ok := lookupCommand(name)
	if !ok {
		return &usageError{err: fmt.Errorf("unknown command %q", name)}
	}
	return runCommand(ctx, cmd, args, &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}

// runCommand parses cmd's flags and arguments, loads the configuration it
// needs, and runs it.
func runCommand(ctx context.Context, cmd command, args []string, e *env) error {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed once, by main
	exec := cmd.define(fs)
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.stdout, cmd, fs)
		return nil
	}
	if err != nil {
		return &usageError{cmd: cmd.name, err: fmt.Errorf("%s: %w", cmd.name, err)}
	}
	if min, max := argCounts(cmd.args); len(positional) < min || len(positional) > max {
		return &usageError{cmd: cmd.name, err: fmt.Errorf("%s: %s", cmd.name, argCountProblem(cmd, positional, min, max))}
	}
	if cmd.name != "help" {
		cfg, err := loadConfig(e.getenv)
		if cmd.server {
			err = errors.Join(err, loadServerConfig(e.getenv, &cfg))
		}
		if err != nil {
			return fmt.Errorf("configuration (environment variables):\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		}
		e.log = newLogger(e.stderr, cfg)
		cfg.db.log = e.log
		e.cfg = cfg
	}
	return exec(ctx, e, positional)
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments ("changepassword alice --password-stdin" works, as in Django);
// everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// flag stops at the first non-flag, or consumes a "--" and stops.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// argCounts reads the allowed number of positional arguments from a usage
// string: each word is one argument, [WORD] an optional one, WORD... many.
func argCounts(usage string) (min, max int) {
	for _, w := range strings.Fields(usage) {
		switch {
		case strings.HasSuffix(w, "..."):
			return min, math.MaxInt
		case strings.HasPrefix(w, "["):
			max++
		default:
			min++
			max++
		}
	}
	return min, max
}

func argCountProblem(cmd command, got []string, min, max int) string {
	switch {
	case max == 0:
		return fmt.Sprintf("unexpected argument %q: %s takes no arguments", got[0], cmd.name)
	case len(got) < min:
		return fmt.Sprintf("missing %s (usage: gatehouse %s [flags] %s)", cmd.args, cmd.name, cmd.args)
	default:
		return fmt.Sprintf("unexpected argument %q (usage: gatehouse %s [flags] %s)", got[max], cmd.name, cmd.args)
	}
}

// printCommandHelp prints one command's usage, summary and flags.
func printCommandHelp(w io.Writer, cmd command, fs *flag.FlagSet) {
	line := "usage: gatehouse " + cmd.name + " [flags]"
	if cmd.args != "" {
		line += " " + cmd.args
	}
	fmt.Fprintf(w, "%s\n\n%s.\n\nflags:\n", line, upperFirst(cmd.summary))
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace("--"+f.Name+" "+name))
		fmt.Fprintf(w, "        %s\n", usage)
	})
	fmt.Fprintln(w, "  -h, --help\n        show this help")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// printUsage prints the list of commands.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: gatehouse [COMMAND] [flags] [ARGUMENTS]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w, "\nWith no command, gatehouse serves. 'gatehouse COMMAND -h' shows a command's flags.\n"+
		"Configuration is read from environment variables; see README.md.")
}

func helpCommand(*flag.FlagSet) runFunc {
	return func(_ context.Context, e *env, args []string) error {
		if len(args) == 0 {
			printUsage(e.stdout)
			return nil
		}
		cmd, ok := lookupCommand(args[0])
		if !ok {
			return &usageError{err: fmt.Errorf("help: unknown command %q", args[0])}
		}
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.define(fs)
		printCommandHelp(e.stdout, cmd, fs)
		return nil
	}
}

func serveCommand(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, _ []string) error {
		tuneGC(e.cfg)
		return serve(ctx, e.cfg, e.log, e.stdout)
	}
}

// openDB opens DATABASE_URL. Its errors name the variable and the file (or
// the URL without its password), so a wrong path is found at once.
func openDB(ctx context.Context, cfg config) (*gorm.DB, error) {
	db, err := models.Open(ctx, cfg.DatabaseURL, append(cfg.db.dbOptions(), models.WithBusyTimeout(cfg.DatabaseTimeout))...)
	if err != nil {
		return nil, describeDBError(cfg.DatabaseURL, err)
	}
	return db, nil
}

func describeDBError(databaseURL string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "DATABASE_URL: ")
	where := fmt.Sprintf("%q", databaseURL)
	if u, perr := url.Parse(databaseURL); perr == nil && u.User != nil {
		where = fmt.Sprintf("%q", u.Redacted())
		msg = strings.ReplaceAll(msg, databaseURL, u.Redacted())
	}
	if !strings.Contains(databaseURL, "://") {
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "file:")
		if abs, aerr := filepath.Abs(path); aerr == nil {
			if abs != path {
				where = fmt.Sprintf("%q (%s)", databaseURL, abs)
			}
			if _, serr := os.Stat(filepath.Dir(abs)); errors.Is(serr, fs.ErrNotExist) {
				msg = fmt.Sprintf("directory %s does not exist", filepath.Dir(abs))
			}
		}
	}
	return &dbOpenError{msg: fmt.Sprintf("DATABASE_URL=%s: %s", where, msg), err: err}
}

// dbOpenError is a failure to open DATABASE_URL, described for a person,
// that still wraps the cause (ErrSchemaBehind, ErrCorrupt …) for code.
type dbOpenError struct {
	msg string
	err error
}

func (e *dbOpenError) Error() string { return e.msg }
func (e *dbOpenError) Unwrap() error { return e.err }

func newHasher(cfg config) *passhash.Hasher {
	return passhash.NewHasher(passhash.DefaultHashParams, cfg.HashConcurrency, cfg.HashQueueTimeout)
}

// newCore builds the core the way serve does, without a router, for
// management commands: their changes go through the same flows (events,
// queued notices). Mail they queue is sent by the server's outbox worker.
func newCore(cfg config, db *gorm.DB) *core.Core {
	return core.New(slog.New(slog.DiscardHandler), db, newHasher(cfg), cfg.Config)
}

// serve runs the web server until ctx ends, then shuts down gracefully:
// requests in flight finish, the background work (outbox worker, sweeps)
// stops — mail not yet sent stays in the outbox for the next start — and
// the database closes.
func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	// Decided from the settings as given: a key generated below still
	// leaves "set SECRET_KEY" among the deploy warnings.
	warnings := deployWarnings(cfg)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)
	key, keyFile, err := localSecretKey(ctx, cfg, db)
	if err != nil {
		return err
	}
	if key != "" {
		cfg.SecretKey = key
		log.Info("SECRET_KEY is unset: using the key generated for this database; set SECRET_KEY in production", "file", keyFile)
	}
	if err := checkSecretKey(ctx, cfg, db, log); err != nil {
		return err
	}

	mailer, err := mail.New(cfg.SMTPURL, cfg.MailFrom, stdout)
	if err != nil {
		return err
	}
	cfg.Mailer = mailer
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: listen on %s: %w", cfg.Addr, err)
	}
	// The URL a person can open, even when listening on every interface.
	site := clickableURL(ln.Addr().String())
	if cfg.BaseURLFromAddr {
		cfg.BaseURL = site
	}
	m, stopMetrics, err := startMetrics(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	cfg.Metrics = m
	logStartWarnings(log, cfg.BaseURL, warnings)
	app := handlers.NewApp(log, db, newHasher(cfg), cfg.Config)
	// Start-up's garbage (migrations, the integrity check, building the
	// app) would stay resident: with GOGC=400 the heap's goal is far above
	// what an idle server holds, so nothing returns it. One collection
	// and a return of the free pages to the kernel, once, before serving.
	debug.FreeOSMemory()
	srv := &http.Server{
		Handler:           app.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var background sync.WaitGroup
	// The outbox worker and the sweeps: after the server has stopped
	// taking requests, Run finishes the mail it holds, then returns.
	background.Go(func() { app.Run(bg) })
	if cfg.AccessRules != nil && cfg.AccessRules.Path() != "" {
		if msg := twoFactorWithoutKey(cfg.AccessRules.Rules(), cfg.SecretKey); msg != "" {
			log.Warn(msg)
		}
		background.Go(func() { reloadRulesOnHangup(bg, cfg.AccessRules, log, cfg.SecretKey) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
	fmt.Fprintf(stdout, "Gatehouse listening on %s/\n", site)
	if cfg.BaseURLFromAddr {
		fmt.Fprintf(stdout, "BASE_URL is not set: links in e-mails point at %s (from ADDR); set BASE_URL to the public address.\n", site)
	}

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

// reloadRulesOnHangup reloads ACCESS_RULES on each SIGHUP until ctx ends. A
// bad file keeps the rules in force and says why in the log.
func reloadRulesOnHangup(ctx context.Context, rules *access.Store, log *slog.Logger, secretKey string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r, err := rules.Reload()
			if err != nil {
				log.Error("access rules not reloaded: keeping the rules in force", "file", rules.Path(), "err", err)
				continue
			}
			log.Info("access rules reloaded", "file", rules.Path(), "rules", len(r.Rules), "default_policy", r.Default.String())
			if msg := twoFactorWithoutKey(r, secretKey); msg != "" {
				log.Warn(msg)
			}
		}
	}
}
