package models

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// djangoAuthUserDDL is auth_user as Django 3.2's migrate creates it on
// SQLite.
const djangoAuthUserDDL = `CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
	"password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL,
	"username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL,
	"email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL,
	"date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`

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
		if _, err := st.Exec(hash, last, fmt.Sprintf("user%07d", i), fmt.Sprintf("user%07d@example.com", i), i%10 != 0, when); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportDjango100k imports 100,000 users and requires it to take well
// under a minute (it takes a few seconds), with progress reported, and a
// re-run to change nothing.
func TestImportDjango100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-user import: not in -short")
	}
	const n = 100_000
	src := makeSyntheticDjangoDB(t, n)
	db := openTestDB(t)
	ctx := context.Background()
	calls := 0
	rep, err := ImportDjango(ctx, db, src, DjangoImportOptions{Progress: func(done, total int) {
		calls++
		if total != n || done > total {
			t.Errorf("progress: got %d/%d, want at most %d/%d", done, total, n, n)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d users in %s", rep.Imported, rep.Elapsed)
	if rep.Imported != n || len(rep.Skipped) != 0 {
		t.Fatalf("got imported=%d skipped=%d, want %d, 0", rep.Imported, len(rep.Skipped), n)
	}
	if rep.Elapsed > 30*time.Second {
		t.Errorf("100k users took %s, want well under a minute", rep.Elapsed)
	}
	if calls < n/500 {
		t.Errorf("progress called %d times, want once per batch", calls)
	}
	users := NewUsers(db, NewHasher(cheap, 1, time.Second))
	l, err := users.List(ctx, UserQuery{Active: No})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != n/10 {
		t.Errorf("inactive users: got %d, want %d", l.Total, n/10)
	}
	rep, err = ImportDjango(ctx, db, src, DjangoImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-run over %d users in %s", rep.Read, rep.Elapsed)
	if rep.Imported != 0 || rep.Updated != 0 || rep.Unchanged != n {
		t.Errorf("re-run: got imported=%d updated=%d unchanged=%d, want 0, 0, %d", rep.Imported, rep.Updated, rep.Unchanged, n)
	}
}
