package websession

import (
	"context"
	"gatehouse/internal/passhash"
	"gatehouse/models"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
)

// BenchmarkSessionStoreNew is the session lookup every signed-in request
// makes: a valid cookie resolved to its row (seen within the minute, so no
// write).
func BenchmarkSessionStoreNew(b *testing.B) {
	ctx := context.Background()
	db, err := models.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = models.Close(db) })
	hasher := passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
	u, err := models.NewUsers(db, hasher).Create(ctx, models.NewUser{Username: "alice", Email: "alice@example.com", Password: "a long enough passphrase"})
	if err != nil {
		b.Fatal(err)
	}
	store := NewSessionStore(db, time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ns models.NewSession
	if err := db.Transaction(func(tx *gorm.DB) error {
		var err error
		ns, err = models.SignIn(tx, ctx, "", u, models.AuthPassword, true, store.life)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: ns.Token()})
	b.ReportAllocs()
	var start syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	for b.Loop() {
		s, err := store.New(req, SessionCookieName)
		if st := StateOf(s.Values); err != nil || s.IsNew || !st.SignedIn() || st.User.ID != u.ID {
			b.Fatalf("got session new=%v state=%+v err=%v, want user %d's", s.IsNew, st, err, u.ID)
		}
	}
	// CPU time per op (all threads, GC included) is steadier than wall
	// time on a shared machine.
	var end syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &end)
	b.ReportMetric(float64(end.Utime.Nano()+end.Stime.Nano()-start.Utime.Nano()-start.Stime.Nano())/float64(b.N), "cpu-ns/op")
}
