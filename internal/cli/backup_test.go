package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// countUsers opens path through the app and counts its users.
func countUsers(t *testing.T, path string) int64 {
	t.Helper()
	db, err := models.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	var n int64
	if err := db.Model(&models.User{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupUnderLoadAndRestore: `backup` copies a database that
// goroutines keep writing users to, and the copy is consistent and
// verified; `restore` refuses while the database is open elsewhere, then,
// with it closed, puts the copy back (row counts match) and keeps the
// replaced database beside it.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	env := map[string]string{"DATABASE_URL": dbPath}
	db, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	users := models.NewUsers(db, passhash.NewHasher(passhash.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4, 5*time.Second))
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d_%d", w, i)
				if _, err := users.Create(context.Background(), models.NewUser{Username: name, Email: name + "@example.com", Password: "correct horse battery"}); err != nil {
					if !strings.Contains(err.Error(), "unavailable") {
						t.Errorf("write: %v", err)
					}
					continue
				}
				written.Add(1)
			}
		})
	}
	for written.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	backupFile := filepath.Join(dir, "backup.db")
	out, err := runCmd(t, env, "", "backup", backupFile)
	before := written.Load()
	if err != nil {
		t.Fatalf("backup under load: %v\n%s", err, out)
	}
	if !strings.Contains(out, "integrity check ok") {
		t.Fatalf("got %q, want the verification reported", out)
	}
	// The server keeps writing after the backup.
	for written.Load() < before+20 {
		time.Sleep(5 * time.Millisecond)
	}
	// A writer counts a user after its commit, so when the backup finished
	// each of the 4 writers may have had one committed user not yet counted.
	inBackup := countUsers(t, backupFile)
	if inBackup < 50 || inBackup > before+4 {
		t.Fatalf("backup holds %d users; want between 50 and %d (written when it finished, and one in flight per writer)", inBackup, before+4)
	}
	if _, err := runCmd(t, env, "", "backup", backupFile); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: got %v, want a refusal", err)
	}

	// Restoring while the database is open (a server running, even an
	// idle one holding no lock) is refused and changes nothing.
	close(stop)
	wg.Wait()
	final := written.Load()
	out, err = runCmd(t, env, "", "restore", backupFile)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore while in use: got %v\n%s, want a refusal", err, out)
	}
	if err := models.Close(db); err != nil {
		t.Fatal(err)
	}
	if got := countUsers(t, dbPath); got != final {
		t.Fatalf("refused restore changed the database: %d users, want %d", got, final)
	}

	out, err = runCmd(t, env, "", "restore", backupFile)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if got := countUsers(t, dbPath); got != inBackup {
		t.Fatalf("after restore: %d users, want the backup's %d", got, inBackup)
	}
	saved, _ := filepath.Glob(dbPath + ".before-restore-*")
	if len(saved) != 1 || countUsers(t, saved[0]) != final {
		t.Fatalf("want the replaced database saved beside it with %d users; got %v", final, saved)
	}
}

// TestBackupRefusals: a corrupt backup is not restored; PostgreSQL gets
// pg_dump's instructions; both exit non-zero.
func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 300)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "live.db")}
	if out, err := runCmd(t, env, "", "restore", junk); err == nil {
		t.Fatalf("restore of a junk file: got success\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "live.db")); err == nil {
		t.Fatal("a refused restore created the database")
	}
	pg := map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1/gatehouse"}
	for _, cmd := range []string{"backup", "restore"} {
		if _, err := runCmd(t, pg, "", cmd, filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
			t.Errorf("%s on PostgreSQL: got %v, want pg_dump's instructions", cmd, err)
		}
	}
}

// TestBackupFilesArePrivateAndChecked: the database and its backups are
// created owner-only; a symlink (dangling or not) as the target and an
// SQLite URI are refused; a copy that fails verification is removed; and
// restore refuses an SQLite file with a users table that is not a
// Gatehouse schema this binary can run, replacing nothing.
func TestBackupFilesArePrivateAndChecked(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	env := map[string]string{"DATABASE_URL": live}
	if _, err := runCmd(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(live); m != 0o600 {
		t.Errorf("the database was created %v, want 0600", m)
	}
	good := filepath.Join(dir, "good.db")
	if out, err := runCmd(t, env, "", "backup", good); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if m := mode(good); m != 0o600 {
		t.Errorf("the backup was created %v, want 0600", m)
	}
	target := filepath.Join(dir, "elsewhere.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, env, "", "backup", link); err == nil {
		t.Error("backup followed a dangling symlink")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("backup wrote through a symlink")
	}
	uri := "file:" + filepath.Join(dir, "uri.db") + "?mode=rwc"
	if _, err := runCmd(t, env, "", "backup", uri); err == nil {
		t.Error("backup accepted an SQLite URI as the target")
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "uri.db*")); len(entries) != 0 {
		t.Errorf("a refused backup left %v", entries)
	}
	// An SQLite file with a users table that is no Gatehouse schema.
	stranger := filepath.Join(dir, "stranger.db")
	execSource(t, "sqlite3", stranger, "CREATE TABLE users (id integer PRIMARY KEY, name text)")
	before, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, env, "", "restore", stranger); err == nil || !strings.Contains(err.Error(), "not a Gatehouse database") {
		t.Fatalf("restore of a foreign schema: got %v\n%s", err, out)
	}
	after, _ := os.ReadFile(live)
	if string(before) != string(after) {
		t.Error("a refused restore changed the database")
	}
	if out, err := runCmd(t, env, "", "restore", good); err != nil {
		t.Fatalf("restore of a good backup: %v\n%s", err, out)
	}
}
