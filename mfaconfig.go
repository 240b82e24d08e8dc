package main

import (
	"context"
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"gatehouse/models"
)

// checkSecretKey refuses to serve without a usable SECRET_KEY once any
// user has a second factor: their authenticator secrets and passkeys could
// not be checked, so they could not sign in. Without factors the site runs
// and the 2FA pages say two-factor authentication is not available.
func checkSecretKey(ctx context.Context, cfg config, db *gorm.DB, log *slog.Logger) error {
	if len(cfg.secretKey) >= models.MinSecretKeyLen {
		return nil
	}
	used, err := models.AnyFactors(ctx, db)
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
