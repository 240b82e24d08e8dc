package models

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gsessions "github.com/gorilla/sessions"
)

// BenchmarkSessionStoreNew is the session lookup every signed-in request
// makes: a valid cookie resolved to its row (seen within the minute, so no
// write).
func BenchmarkSessionStoreNew(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = Close(db) })
	hasher := NewHasher(HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
	u, err := NewUsers(db, hasher).Create(ctx, NewUser{Username: "alice", Email: "alice@example.com", Password: "a long enough passphrase"})
	if err != nil {
		b.Fatal(err)
	}
	store := NewSessionStore(db, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	gs := gsessions.NewSession(store, SessionCookieName)
	gs.Options = &gsessions.Options{Path: "/", MaxAge: 3600}
	gs.Values[UserIDKey] = u.ID
	rec := httptest.NewRecorder()
	if err := store.Save(httptest.NewRequest(http.MethodGet, "/", nil), rec, gs); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	b.ReportAllocs()
	var start syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	for b.Loop() {
		s, err := store.New(req, SessionCookieName)
		if err != nil || s.IsNew || s.Values[UserIDKey] != u.ID {
			b.Fatalf("got session new=%v values=%v err=%v, want user %d's", s.IsNew, s.Values, err, u.ID)
		}
	}
	// CPU time per op (all threads, GC included) is steadier than wall
	// time on a shared machine.
	var end syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &end)
	b.ReportMetric(float64(end.Utime.Nano()+end.Stime.Nano()-start.Utime.Nano()-start.Stime.Nano())/float64(b.N), "cpu-ns/op")
}
