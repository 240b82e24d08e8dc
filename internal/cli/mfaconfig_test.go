package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// TestServeRefusesWithoutSecretKeyOnceFactorsExist: a site whose users have
// authenticators does not start without a usable SECRET_KEY (they could not
// sign in), with an error that says what to do; REQUIRE_2FA_FOR_STAFF needs
// one too.
func TestServeRefusesWithoutSecretKeyOnceFactorsExist(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "serve.db")
	env := map[string]string{"DATABASE_URL": dbPath, "ADDR": "127.0.0.1:0", "HASH_CONCURRENCY": "1"}
	if _, err := runCmd(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "admin", "--email", "a@example.com", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	db, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var u models.User
	if err := db.Where("username = ?", "admin").Take(&u).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&models.Authenticator{UserID: u.ID, Kind: models.FactorTOTP, Secret: "sealed", CreatedAt: time.Now()}).Error; err != nil {
		t.Fatal(err)
	}
	_ = models.Close(db)
	for _, key := range []string{"", "too-short"} {
		env["SECRET_KEY"] = key
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, logs := &syncWriter{}, &syncWriter{}
		err := run(ctx, nil, envMap(env), strings.NewReader(""), out, logs)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "SECRET_KEY") || !strings.Contains(err.Error(), "openssl rand") {
			t.Fatalf("SECRET_KEY=%q with factors: got %v, want a start-up error naming SECRET_KEY", key, err)
		}
		if strings.Contains(out.String(), "listening") {
			t.Fatal("server started anyway")
		}
	}
	if _, err := loadServeConfig(envMap(map[string]string{"REQUIRE_2FA_FOR_STAFF": "true"})); err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
		t.Fatalf("REQUIRE_2FA_FOR_STAFF without SECRET_KEY: %v", err)
	}
}
