package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/models"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"gorm.io/gorm"
)

var cheap = passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const djangoSampleEvery = 10_000

func djangoSamplePassword(i int) string { return fmt.Sprintf("the password of user %d", i) }

func loadLegacyDB(t *testing.T) string {
	t.Helper()
	dump, err := os.ReadFile("../models/testdata/legacy_ef02412.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "legacy.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(string(dump)); err != nil {
		t.Fatalf("load legacy dump: %v", err)
	}
	return path
}

func makeSyntheticDjangoDB(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "django.sqlite3")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(djangoAuthUserDDL); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO auth_user (password, last_login, is_superuser, username, last_name, email,
		is_staff, is_active, date_joined, first_name) VALUES (?, ?, 0, ?, '', ?, 0, ?, ?, '')`)
	if err != nil {
		t.Fatal(err)
	}
	joined := time.Date(2020, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for i := range n {
		when := joined.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05.000000")
		var last any
		if i%3 == 0 {
			last = when
		}
		hash := fmt.Sprintf("pbkdf2_sha256$260000$salt%07d$Uj2ZVdZdf/ARXJc192fqdi78271maw+lPOvG/5EZqdU=", i)
		if i%djangoSampleEvery == 1 {
			hash = djangoSampleHash(t, i)
		}
		if _, err := st.Exec(hash, last, fmt.Sprintf("user%07d", i), fmt.Sprintf("user%07d@example.com", i), i%10 != 0, when); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func mustCreate(t *testing.T, users *models.Users, nu models.NewUser) *models.User {
	t.Helper()
	if nu.Password == "" {
		nu.Password = "a long enough password"
	}
	u, err := users.Create(context.Background(), nu)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func openTestDB(t testing.TB, opts ...models.OpenOption) *gorm.DB {
	t.Helper()
	db, err := models.Open(context.Background(), testdb.URL(t), opts...)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}

func openTestUsers(t *testing.T) *models.Users {
	t.Helper()
	return models.NewUsers(openTestDB(t), passhash.NewHasher(cheap, 2, time.Second))
}

func openTwoPools(t *testing.T) (*gorm.DB, *gorm.DB) {
	t.Helper()
	url := testdb.URL(t)
	var dbs [2]*gorm.DB
	for i := range dbs {
		db, err := models.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open pool %d: %v", i, err)
		}
		t.Cleanup(func() { _ = models.Close(db) })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

const djangoAuthUserDDL = `CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
	"password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL,
	"username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL,
	"email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL,
	"date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`

func djangoSampleHash(t testing.TB, i int) string {
	t.Helper()
	salt := fmt.Sprintf("sample%07d", i)
	key, err := pbkdf2.Key(sha256.New, djangoSamplePassword(i), []byte(salt), 1000, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2_sha256$1000$" + salt + "$" + base64.StdEncoding.EncodeToString(key)
}
