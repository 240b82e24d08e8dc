package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/models"
)

// checkSecretKey refuses to serve without a usable SECRET_KEY once any
// user has a second factor: their authenticator secrets and passkeys could
// not be checked, so they could not sign in. Without factors the site runs
// and the 2FA pages say two-factor authentication is not available.
func checkSecretKey(ctx context.Context, cfg config, db *gorm.DB, log *slog.Logger) error {
	if len(cfg.SecretKey) >= models.MinSecretKeyLen {
		return nil
	}
	used, err := auth.AnyFactors(ctx, db)
	if err != nil {
		return fmt.Errorf("check two-factor authenticators: %w", err)
	}
	if used {
		return fmt.Errorf("SECRET_KEY is unset or shorter than %d characters, but users have two-factor authentication set up "+
			"and cannot sign in without it. Set SECRET_KEY to the value it had (a new key cannot open the stored secrets); "+
			"to make a key for a new site: openssl rand -base64 48", models.MinSecretKeyLen)
	}
	log.Warn("two-factor authentication is not available: SECRET_KEY is unset or shorter than 32 characters (make one with: openssl rand -base64 48)")
	return nil
}

// localSecretKey gives a local SQLite site a SECRET_KEY when none is set,
// as Django's startproject writes one: kept in a file beside the database
// (DB.secret-key, mode 0600), made on the first start of a site that has
// no second factors yet (a new key could not open stored secrets), and
// read on every later start. PostgreSQL is left alone: several instances
// must share one key, so SECRET_KEY must be set there (check --deploy
// says so either way). It returns the key and its file, or "" when none
// applies.
func localSecretKey(ctx context.Context, cfg config, db *gorm.DB) (key, file string, err error) {
	path, ok := sqlitePath(cfg.DatabaseURL)
	if !ok || cfg.SecretKey != "" {
		return "", "", nil
	}
	file = path + ".secret-key"
	if b, err := os.ReadFile(file); err == nil {
		key = strings.TrimSpace(string(b))
		if len(key) < models.MinSecretKeyLen {
			return "", "", fmt.Errorf("%s: the generated key is damaged (shorter than %d characters); restore it, or set SECRET_KEY", file, models.MinSecretKeyLen)
		}
		return key, file, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("read %s: %w", file, err)
	}
	if used, err := auth.AnyFactors(ctx, db); err != nil || used {
		return "", "", err // checkSecretKey refuses to start without the old key
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	key = base64.StdEncoding.EncodeToString(raw)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return localSecretKey(ctx, cfg, db) // another process on this host made it first
	}
	if err != nil {
		return "", "", fmt.Errorf("create %s: %w", file, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", "", fmt.Errorf("write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("write %s: %w", file, err)
	}
	return key, file, nil
}
