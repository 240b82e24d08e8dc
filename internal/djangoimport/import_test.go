package djangoimport

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/models"
)

// djangoAuthUserDDL is auth_user as Django 3.2's migrate creates it on
// SQLite.
const djangoAuthUserDDL = `CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
	"password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL,
	"username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL,
	"email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL,
	"date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`

// djangoSampleEvery: one user in this many (user0000001, user0010001 …)
// of a synthetic Django database has a real hash of djangoSamplePassword,
// so a sample of the import can log in.
const djangoSampleEvery = 10_000

func djangoSamplePassword(i int) string { return fmt.Sprintf("the password of user %d", i) }

// djangoSampleHash is Django's pbkdf2_sha256 of djangoSamplePassword(i),
// with few iterations (the count is part of the format) so it is cheap.
func djangoSampleHash(t testing.TB, i int) string {
	t.Helper()
	salt := fmt.Sprintf("sample%07d", i)
	key, err := pbkdf2.Key(sha256.New, djangoSamplePassword(i), []byte(salt), 1000, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2_sha256$1000$" + salt + "$" + base64.StdEncoding.EncodeToString(key)
}

// makeSyntheticDjangoDB writes n users into an auth_user table shaped like
// Django's (the hashes are well-formed Django pbkdf2 strings; only the
// volume matters here — the real-Django tests are in package main).
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

// BenchmarkImportDjango100k times importing 100,000 users into an empty
// database (go test -bench ImportDjango100k ./models); the requirement is
// well under a minute (about 6 s into SQLite on a quiet machine), read
// from its output, not asserted by a test.
func BenchmarkImportDjango100k(b *testing.B) {
	const n = 100_000
	src := makeSyntheticDjangoDB(b, n)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		db, err := models.Open(ctx, testdb.URL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := Import(ctx, db, src, Options{})
		b.StopTimer()
		_ = models.Close(db)
		if err != nil || rep.Imported != n {
			b.Fatalf("import: got %d imported (%v), want %d", rep.Imported, err, n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// TestImportDjangoRaceWithSignup: an account created while the import runs
// (after it looked, before its batch) makes that batch fail on the unique
// index; the batch is retried row by row, the clash reported, the rest
// imported, and the new account left as it was.
func TestImportDjangoRaceWithSignup(t *testing.T) {
	const n = 1200
	src := makeSyntheticDjangoDB(t, n)
	db := openTestDB(t)
	users := models.NewUsers(db, passhash.NewHasher(cheap, 1, time.Second))
	ctx := context.Background()
	signedUp := false
	rep, err := Import(ctx, db, src, Options{BatchSize: 500, Progress: func(done, total int) {
		if signedUp {
			return
		}
		signedUp = true
		// user0000700 is in the second batch (Django ids start at 1).
		if _, err := users.Create(ctx, models.NewUser{Username: "USER0000700", Email: "late@example.com", Password: "correct-horse-battery"}); err != nil {
			t.Fatalf("sign-up during the import: %v", err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != n-1 || len(rep.Skipped) != 1 {
		t.Fatalf("got imported=%d skipped=%v, want %d and one skip", rep.Imported, rep.Skipped, n-1)
	}
	if s := rep.Skipped[0]; s.DjangoID != 701 || s.Username != "user0000700" || s.Reason != SkipUsernameTaken {
		t.Errorf("got skip %+v, want Django id 701 user0000700 %q", s, SkipUsernameTaken)
	}
	u, err := users.ByUsername(ctx, "user0000700")
	if err != nil || u.Username != "USER0000700" || u.Email != "late@example.com" {
		t.Errorf("the account signed up during the import: got %+v %v, want it unchanged", u, err)
	}
	l, err := users.List(ctx, models.UserQuery{})
	if err != nil || l.Total != n {
		t.Errorf("got %d users (%v), want %d", l.Total, err, n)
	}
}
