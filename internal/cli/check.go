package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"gorm.io/gorm"

	"gatehouse/internal/access"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/upstream"
	"gatehouse/models"
)

// deployWarning is one problem `check --deploy` reports, like Django's
// system checks: an ID to silence or search for, and what to do.
type deployWarning struct {
	ID, Msg string
}

// Filesystem magic numbers (statfs f_type) of network and FUSE
// filesystems, on which SQLite's locking is unreliable.
var networkFS = map[int64]string{
	0x6969:     "NFS",
	0xFF534D42: "CIFS",
	0x517B:     "SMB",
	0xFE534D42: "SMB2",
	0x65735546: "FUSE",
	0x01021997: "9P",
	0x47504653: "GPFS",
	0x013111A8: "IBRIX",
	0x0BD00BD0: "Lustre",
}

// statfsType returns the filesystem type of the directory holding path
// (a variable so tests can stand in for a network mount).
var statfsType = func(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

// minSecretKeyLen is the shortest SECRET_KEY accepted (Django asks 50
// characters of good randomness; 32 random characters is 190+ bits).
const minSecretKeyLen = 32

// deployWarnings checks cfg for settings that are fine on a laptop and
// wrong in production. (The schema version is checkCommand's: it needs the
// database.)
func deployWarnings(cfg config) []deployWarning {
	var ws []deployWarning
	add := func(id, format string, args ...any) {
		ws = append(ws, deployWarning{ID: id, Msg: fmt.Sprintf(format, args...)})
	}
	if !strings.HasPrefix(cfg.BaseURL, "https://") {
		add("gatehouse.W001", "BASE_URL %q is not https: session cookies go out without Secure, no HSTS is sent, and reset links in e-mails are plain http. Serve over TLS and set BASE_URL=https://….", cfg.BaseURL)
	}
	if cfg.SMTPURL == "" {
		add("gatehouse.W002", "SMTP_URL is unset: e-mails, password-reset links included, are printed to standard output (and so into logs) instead of sent. Set SMTP_URL=smtp://user:pass@host:587.")
	}
	switch n := len(cfg.SecretKey); {
	case n == 0:
		add("gatehouse.W003", "SECRET_KEY is unset. Set it to at least %d random characters (e.g. `openssl rand -base64 48`) and keep it secret.", minSecretKeyLen)
	case n < minSecretKeyLen || weakSecret(cfg.SecretKey):
		add("gatehouse.W003", "SECRET_KEY is weak (%d characters, or few distinct ones); use at least %d random characters (e.g. `openssl rand -base64 48`).", n, minSecretKeyLen)
	}
	if len(cfg.TrustedProxies) == 0 {
		add("gatehouse.W004", "TRUSTED_PROXIES is unset: the peer address is taken as the client. Behind a proxy or load balancer every request then seems to come from it, and the per-address limits lock everyone out together. Set TRUSTED_PROXIES to the proxy's addresses (the server also warns once when a request arrives with X-Forwarded-For).")
	}
	if dir, ok := sqliteDir(cfg.DatabaseURL); ok {
		if t, err := statfsType(dir); err == nil {
			if name, bad := networkFS[t]; bad {
				add("gatehouse.W005", "the SQLite database %q is on a %s filesystem: SQLite's locks are not reliable there and the file can be corrupted. Keep it on a local disk, and run one host against it (use PostgreSQL for several).", cfg.DatabaseURL, name)
			}
		}
	}
	var off []string
	for _, l := range []struct {
		key string
		on  bool
	}{
		{"LOGIN_LIMIT_PER_USER_IP", cfg.LoginLimitPerUserIP.Enabled()},
		{"LOGIN_LIMIT_PER_IP", cfg.LoginLimitPerIP.Enabled()},
		{"PASSWORD_RESET_LIMIT_PER_EMAIL", cfg.PasswordResetLimitPerEmail.Enabled()},
		{"PASSWORD_RESET_LIMIT_PER_IP", cfg.PasswordResetLimitPerIP.Enabled()},
		{"SIGNUP_LIMIT_PER_IP", cfg.SignupLimitPerIP.Enabled()},
		{"SIGNUP_CHECK_LIMIT_PER_IP", cfg.SignupCheckLimitPerIP.Enabled()},
	} {
		if !l.on {
			off = append(off, l.key)
		}
	}
	if len(off) > 0 {
		add("gatehouse.W006", "limits turned off: %s. Password guessing, sign-up floods or mail bombing are then unbounded; remove the `off` settings.", strings.Join(off, ", "))
	}
	if cfg.Debug {
		add("gatehouse.W007", "DEBUG is on: Gin's debug mode prints the route table and every request to standard output. Set DEBUG=false.")
	}
	return ws
}

// weakSecret reports a key with very few distinct characters ("aaaa…").
func weakSecret(s string) bool {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen) < 8
}

// sqliteDir returns the directory holding the SQLite file DATABASE_URL
// names, or false for another database.
func sqliteDir(dbURL string) (string, bool) {
	p, ok := sqlitePath(dbURL)
	return filepath.Dir(p), ok
}

// logDeployWarnings logs each warning once at start-up, so `serve` says
// what `check --deploy` would.
func logDeployWarnings(log *slog.Logger, cfg config) {
	for _, w := range deployWarnings(cfg) {
		log.Warn("deploy check: "+w.Msg, "check", w.ID)
	}
}

// logStartWarnings is what serve says of the deploy warnings at start. A
// development start (BASE_URL on this machine: localhost, a loopback
// address, or derived from a wildcard ADDR) gets one line pointing at
// `check --deploy`, as Django's runserver says nothing of them; a site
// with a public BASE_URL gets every warning.
func logStartWarnings(log *slog.Logger, baseURL string, warnings []deployWarning) {
	if len(warnings) == 0 {
		return
	}
	if !localBaseURL(baseURL) {
		for _, w := range warnings {
			log.Warn("deploy check: "+w.Msg, "check", w.ID)
		}
		return
	}
	log.Warn(fmt.Sprintf("not production-ready: %d deploy warnings; run `gatehouse check --deploy`", len(warnings)), "warnings", len(warnings))
}

// localBaseURL reports whether baseURL points at this machine.
func localBaseURL(baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// errChecksFailed is returned (exit status 1) when a check found problems.
var errChecksFailed = errors.New("check: problems found")

// checkCommand is `gatehouse check [--deploy]`: the configuration (already
// loaded, so valid) and the database (opens, migrates, passes quick_check);
// with --deploy also the production settings. Each problem is explained;
// any problem exits non-zero.
func checkCmd(fs *flag.FlagSet) runFunc {
	deploy := fs.Bool("deploy", false, "also check the settings a production deployment needs")
	return func(ctx context.Context, e *env, _ []string) error {
		return checkCommand(ctx, e.cfg, *deploy, e.stdout)
	}
}

// oidcKeyProblem says, plainly, when the OpenID provider's signing keys
// do not open with the SECRET_KEY serve would use (set, or the key file
// beside a local SQLite database — read, never made here): the provider
// would stay off. "" when they open or there are none yet.
func oidcKeyProblem(ctx context.Context, cfg config, db *gorm.DB) string {
	key, file := cfg.SecretKey, "SECRET_KEY"
	if key == "" {
		if path, ok := sqlitePath(cfg.DatabaseURL); ok {
			file = path + ".secret-key"
			if b, err := os.ReadFile(file); err == nil {
				key = strings.TrimSpace(string(b))
			}
		}
	}
	const restore = "Apps cannot sign anyone in with Gatehouse until the key the signing keys were made with is back: restore the old SECRET_KEY, " +
		"or the generated key file from the backup of the database, and restart. (New keys would change every account's sub, so Gatehouse does not make them by itself; see docs/oidc.md.)"
	switch err := oidcop.CheckKeys(ctx, db, key); {
	case err == nil:
		return ""
	case errors.Is(err, oidcop.ErrKeysSealed) && cfg.SecretKey != "":
		return "the OpenID provider is off: its signing keys were made with another SECRET_KEY than the one set. " + restore
	case errors.Is(err, oidcop.ErrKeysSealed):
		return fmt.Sprintf("the OpenID provider is off: its signing keys were made with another key than the one in %s (the file was lost or replaced?). %s", file, restore)
	case errors.Is(err, oidcop.ErrUnavailable) && file != "SECRET_KEY":
		return fmt.Sprintf("the OpenID provider is off: it has signing keys, but SECRET_KEY is unset and the generated key file %s is missing (the next start would make a new key that cannot open them). %s", file, restore)
	case errors.Is(err, oidcop.ErrUnavailable):
		return "the OpenID provider is off: it has signing keys, but SECRET_KEY is unset. " + restore
	default:
		return "OpenID provider keys: " + err.Error()
	}
}

func checkCommand(ctx context.Context, cfg config, deploy bool, stdout io.Writer) error {
	var problems []deployWarning
	// Open without migrating (check changes nothing), then compare the
	// schema's version with this binary's migrations.
	opts := append(cfg.db.dbOptions(), models.WithBusyTimeout(cfg.DatabaseTimeout), models.WithMigrate(models.MigrateNone))
	if db, err := models.Open(ctx, cfg.DatabaseURL, opts...); err != nil {
		problems = append(problems, deployWarning{ID: "gatehouse.E001", Msg: "database: " + err.Error()})
	} else {
		if err := models.CheckSchema(ctx, db); err != nil {
			problems = append(problems, deployWarning{ID: "gatehouse.E002", Msg: "database schema: " + err.Error()})
		} else if msg := oidcKeyProblem(ctx, cfg, db); msg != "" {
			problems = append(problems, deployWarning{ID: "gatehouse.E005", Msg: msg})
		}
		_ = models.Close(db)
	}
	// Every provider of SOCIAL_PROVIDERS is reached (discovery for
	// OpenID Connect): one that cannot be would fail every sign-in.
	for _, p := range upstream.NewSet(cfg.SocialProviders, nil).List() {
		if err := p.Check(ctx); err != nil {
			problems = append(problems, deployWarning{ID: "gatehouse.E003", Msg: fmt.Sprintf("SOCIAL_PROVIDERS: provider %q: %v", p.Config.ID, err)})
		}
	}
	if deploy {
		problems = append(problems, deployWarnings(cfg)...)
	}
	if cfg.AccessRules != nil && cfg.AccessRules.Path() != "" {
		// Loading it (with the configuration) already checked it.
		r := cfg.AccessRules.Rules()
		fmt.Fprintf(stdout, "Access rules: %d rule(s), default_policy %s, from %s.\n", len(r.Rules), r.Default, cfg.AccessRules.Path())
		if msg := twoFactorWithoutKey(r, cfg.SecretKey); msg != "" {
			problems = append(problems, deployWarning{ID: "gatehouse.E004", Msg: msg})
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "System check identified no issues.")
		return nil
	}
	fmt.Fprintf(stdout, "System check identified %d issue(s):\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(stdout, "  %s: %s\n", p.ID, p.Msg)
	}
	return errChecksFailed
}

// twoFactorWithoutKey explains a two_factor policy in rules when SECRET_KEY
// is too short for two-factor authentication to be on (auth's MFA keys
// need models.MinSecretKeyLen): nobody could meet it, and everyone it
// applies to would be sent to set up a factor the site cannot offer. ""
// when there is none. Not a start-up error: `task dev` runs the example
// rules without a key.
func twoFactorWithoutKey(r *access.Rules, secretKey string) string {
	if len(secretKey) >= models.MinSecretKeyLen {
		return ""
	}
	const why = " is two_factor, but SECRET_KEY is not set (at least %d characters): two-factor authentication is off, so nobody can meet it"
	for _, rule := range r.Rules {
		if rule.Policy == access.TwoFactor {
			return fmt.Sprintf("ACCESS_RULES: rule %d (line %d)"+why, rule.Index+1, rule.Line, models.MinSecretKeyLen)
		}
	}
	if r.Default == access.TwoFactor {
		return fmt.Sprintf("ACCESS_RULES: default_policy"+why, models.MinSecretKeyLen)
	}
	return ""
}
