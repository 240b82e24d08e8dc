package models

import (
	"database/sql"
	"sync"

	"gorm.io/gorm"
)

// A ChangeStamp names the database's committed state as this process can
// see it without a query: it moves with every commit, by any connection of
// any process. A read made between two equal stamps saw exactly the state
// both name, so its result may be served again for as long as the stamp
// stays the same (internal/readcache). That is as fresh as reading the
// database again: a reader's snapshot is taken from the same state.
type ChangeStamp struct{ w [6]uint64 }

// A ChangeWatch reads a database's change stamp.
type ChangeWatch interface {
	// Stamp returns the current stamp; ok is false when it cannot be
	// known now (nothing may then be cached, nor served from a cache).
	Stamp() (s ChangeStamp, ok bool)
}

// watches holds each open handle's watch, by its pool.
var watches sync.Map // *sql.DB → *watchEntry

type watchEntry struct {
	w       ChangeWatch
	release func()
}

// Changes returns db's change watch, or nil when it has none (an
// in-memory SQLite database, a platform without the shared-memory file);
// then nothing is cached.
func Changes(db *gorm.DB) ChangeWatch {
	sqlDB, err := db.DB()
	if err != nil {
		return nil
	}
	if e, ok := watches.Load(sqlDB); ok {
		return e.(*watchEntry).w
	}
	return nil
}

// setWatch registers the watch of the handle whose pool is sqlDB; release
// runs at Close, after the pool is closed.
func setWatch(sqlDB *sql.DB, w ChangeWatch, release func()) {
	watches.Store(sqlDB, &watchEntry{w: w, release: release})
}

// dropWatch stops the watch of the pool sqlDB (Close, once the pool is
// closed): it reads no stamp after this.
func dropWatch(sqlDB *sql.DB) {
	if e, ok := watches.LoadAndDelete(sqlDB); ok {
		if r := e.(*watchEntry).release; r != nil {
			r()
		}
	}
}

// TestStamp is a stamp made from n, for tests of what uses stamps.
func TestStamp(n uint64) ChangeStamp { return ChangeStamp{w: [6]uint64{n}} }
