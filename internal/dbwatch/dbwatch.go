// Package dbwatch counts the writes an SQLite database receives, on every
// connection of a pool: tests open the database with
// models.WithSQLiteConnectHook(w.Hook) and then ask what was written. It
// uses SQLite's own hooks, so it sees every write, whether it came through
// GORM, raw SQL or the session hot path.
package dbwatch

import (
	"maps"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// Watch counts rows changed (per operation and table) and write
// transactions ended, across every connection it was installed on.
type Watch struct {
	mu   sync.Mutex
	rows map[string]int // "update sessions" -> rows
	txs  int
}

// New returns a Watch with nothing counted.
func New() *Watch { return &Watch{rows: map[string]int{}} }

var ops = map[int]string{sqlite3.SQLITE_INSERT: "insert", sqlite3.SQLITE_UPDATE: "update", sqlite3.SQLITE_DELETE: "delete"}

// Hook installs the counting hooks on one connection; pass it to
// models.WithSQLiteConnectHook. The update hook counts each row inserted,
// updated or deleted. The commit hook fires when a write transaction
// commits — also one that changed nothing, such as an idle BEGIN
// IMMEDIATE … COMMIT, which still held the database's only write lock —
// and the rollback hook when an explicit transaction (always a write
// transaction under the app's _txlock=immediate) is rolled back.
func (w *Watch) Hook(c *sqlite3.SQLiteConn) error {
	c.RegisterUpdateHook(func(op int, _, table string, _ int64) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.rows[ops[op]+" "+table]++
	})
	c.RegisterCommitHook(func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.txs++
		return 0 // 0 lets the commit go ahead
	})
	c.RegisterRollbackHook(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.txs++
	})
	return nil
}

// Take returns the rows changed and the write transactions ended since the
// last Take, and starts counting afresh.
func (w *Watch) Take() (rows map[string]int, writeTxs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows, writeTxs = maps.Clone(w.rows), w.txs
	clear(w.rows)
	w.txs = 0
	return rows, writeTxs
}
