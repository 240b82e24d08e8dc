package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"gatehouse/internal/testdb"
)

// skipUnlessPostgres skips a test of PostgreSQL's change watch.
func skipUnlessPostgres(t *testing.T) {
	t.Helper()
	if !testdb.Postgres() {
		t.Skip("PostgreSQL's change watch (set TEST_DATABASE_URL)")
	}
}

// openPG opens url as a test handle, closed when the test ends.
func openPG(t *testing.T, url string) *gorm.DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(db) })
	return db
}

// pgWatchOf returns db's PostgreSQL change watch.
func pgWatchOf(t *testing.T, db *gorm.DB) *pgWatch {
	t.Helper()
	w, ok := Changes(db).(*pgWatch)
	if !ok {
		t.Fatalf("a PostgreSQL handle has no change watch (got %T)", Changes(db))
	}
	return w
}

// freshStamp waits (at most 5 s) for the watch to vouch for a stamp: its
// listener connected and a heartbeat back.
func freshStamp(t *testing.T, w ChangeWatch) ChangeStamp {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, ok := w.Stamp(); ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the change watch gave no stamp within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// changeRow is a table without a notify trigger: what moves the stamp for
// its writes is the connection's own bump, nothing else.
type changeRow struct {
	ID uint
	X  int
}

// This process's writes move the stamp before the call that committed
// returns, whichever way they reach the driver; reads and rolled-back
// writes do not.
func TestPostgresStampMovesWithOwnWrites(t *testing.T) {
	skipUnlessPostgres(t)
	db := openTestDB(t)
	w := pgWatchOf(t, db)
	freshStamp(t, w)
	if err := db.Exec("CREATE TABLE change_rows (id serial PRIMARY KEY, x int NOT NULL DEFAULT 0)").Error; err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	ctx := context.Background()
	prepared := func(q string) *sql.Stmt {
		st, err := sqlDB.PrepareContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	setX, insertReturning, count := prepared("UPDATE change_rows SET x = $1"),
		prepared("INSERT INTO change_rows (x) VALUES ($1) RETURNING id"), prepared("SELECT count(*) FROM change_rows")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	var id uint
	for _, c := range []struct {
		name   string
		op     func()
		writes bool
	}{
		{"GORM Create (INSERT … RETURNING through Query)", func() { must(db.Table("change_rows").Create(&changeRow{X: 1}).Error) }, true},
		{"GORM Update", func() { must(db.Table("change_rows").Where("x = ?", 1).Update("x", 2).Error) }, true},
		{"GORM Delete", func() { must(db.Table("change_rows").Where("x = ?", 9).Delete(&changeRow{}).Error) }, true},
		{"GORM Transaction", func() {
			must(db.Transaction(func(tx *gorm.DB) error {
				before := w.gen.n.Load()
				must(tx.Exec("INSERT INTO change_rows (x) VALUES (3)").Error)
				if w.gen.n.Load() != before {
					t.Error("a statement inside a transaction moved the stamp before its commit")
				}
				return nil
			}))
		}, true},
		{"raw Exec", func() { must(db.Exec("UPDATE change_rows SET x = 4").Error) }, true},
		{"prepared statement Exec", func() { _, err := setX.ExecContext(ctx, 5); must(err) }, true},
		{"prepared INSERT … RETURNING", func() { must(insertReturning.QueryRowContext(ctx, 6).Scan(&id)) }, true},
		{"raw INSERT … RETURNING through Query", func() {
			must(db.Raw("INSERT INTO change_rows (x) VALUES (7) RETURNING id").Scan(&id).Error)
		}, true},
		{"data-modifying WITH", func() {
			must(db.Raw("WITH d AS (DELETE FROM change_rows WHERE x = 7 RETURNING id) SELECT count(*) FROM d").Scan(&n).Error)
		}, true},
		{"a SELECT after a comment", func() {
			must(db.Raw("/* a /* nested */ comment */ -- and a line\n SELECT count(*) FROM change_rows").Scan(&n).Error)
		}, false},
		{"GORM First", func() { var r changeRow; must(db.Table("change_rows").Order("id").First(&r).Error) }, false},
		{"prepared SELECT", func() { must(count.QueryRowContext(ctx).Scan(&n)) }, false},
		{"rolled-back transaction", func() {
			tx := db.Begin()
			must(tx.Exec("INSERT INTO change_rows (x) VALUES (8)").Error)
			must(tx.Rollback().Error)
		}, false},
	} {
		before := w.gen.n.Load()
		c.op()
		moved := w.gen.n.Load() != before
		if moved != c.writes {
			t.Errorf("%s: stamp moved %v, want %v", c.name, moved, c.writes)
		}
	}
}

// isPlainRead is what keeps a SELECT from moving the stamp; anything it
// is not sure of counts as a write.
func TestIsPlainRead(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": true,
		"  select * FROM users WHERE id = $1 ;  ": true,
		"-- c\nSELECT 1":                                 true,
		"/* a /* b */ c */ SELECT 1":                     true,
		"/* a /* b */ SELECT */ DELETE FROM users":       false,
		"/* unterminated SELECT":                         false,
		"-- only a comment SELECT":                       false,
		"SELECT 1; DELETE FROM users":                    false,
		"WITH d AS (DELETE FROM x RETURNING 1) SELECT 1": false,
		"INSERT INTO x VALUES (1) RETURNING id":          false,
		"UPDATE x SET y = 1":                             false,
		"(SELECT 1)":                                     false,
		"SELECTED":                                       false,
		"select_x()":                                     false,
		"":                                               false,
		"VALUES (1)":                                     false,
	} {
		if got := isPlainRead(q); got != want {
			t.Errorf("isPlainRead(%q) = %v, want %v", q, got, want)
		}
	}
}

// The wrappers keep every optional interface pgx's own connection,
// statement and rows have, and add none: database/sql decides by them.
func TestPgConnKeepsDriverInterfaces(t *testing.T) {
	ifaces := []reflect.Type{
		reflect.TypeFor[driver.Conn](), reflect.TypeFor[driver.ConnBeginTx](), reflect.TypeFor[driver.ConnPrepareContext](),
		reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.QueryerContext](), reflect.TypeFor[driver.Execer](),
		reflect.TypeFor[driver.Queryer](), reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.SessionResetter](),
		reflect.TypeFor[driver.Validator](), reflect.TypeFor[driver.NamedValueChecker](), reflect.TypeFor[driver.ColumnConverter](),
		reflect.TypeFor[driver.Stmt](), reflect.TypeFor[driver.StmtExecContext](), reflect.TypeFor[driver.StmtQueryContext](),
		reflect.TypeFor[driver.Rows](), reflect.TypeFor[driver.RowsNextResultSet](), reflect.TypeFor[driver.RowsColumnTypeScanType](),
		reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName](), reflect.TypeFor[driver.RowsColumnTypeLength](),
		reflect.TypeFor[driver.RowsColumnTypeNullable](), reflect.TypeFor[driver.RowsColumnTypePrecisionScale](),
		reflect.TypeFor[interface{ Conn() *pgx.Conn }](),
	}
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[*stdlib.Conn](), reflect.TypeFor[*pgConn]()},
		{reflect.TypeFor[*stdlib.Stmt](), reflect.TypeFor[*pgStmt]()},
		{reflect.TypeFor[*stdlib.Rows](), reflect.TypeFor[*pgRows]()},
	} {
		for _, i := range ifaces {
			if a, b := pair[0].Implements(i), pair[1].Implements(i); a != b {
				t.Errorf("%v implements %v: %v; %v: %v", pair[0], i, a, pair[1], b)
			}
		}
		if a, b := pair[0].NumMethod(), pair[1].NumMethod(); a != b {
			t.Errorf("%v has %d methods, %v %d", pair[0], a, pair[1], b)
		}
	}
}

// Another instance's commit to any notified table moves the stamp within
// a short wait; a table that lost its trigger keeps the watch from
// starting at all.
func TestPostgresStampMovesWithOtherInstances(t *testing.T) {
	skipUnlessPostgres(t)
	url := testdb.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	w := pgWatchOf(t, a)
	for _, table := range notifiedTables {
		s0 := freshStamp(t, w)
		// A statement-level trigger fires for a statement that changes
		// no row, too.
		if err := b.Exec("DELETE FROM " + table + " WHERE false").Error; err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for {
			if s, ok := w.Stamp(); ok && s != s0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a commit to %s by another instance did not move the stamp within 1 s", table)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Every table of notifiedTables has its trigger in the migrated schema;
// one missing, a new handle has no watch (nothing would tell it of other
// instances' writes).
func TestNotifiedTablesHaveTriggers(t *testing.T) {
	skipUnlessPostgres(t)
	url := testdb.URL(t)
	db := openPG(t, url)
	sqlDB, _ := db.DB()
	if err := checkNotifyTriggers(context.Background(), sqlDB); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("DROP TRIGGER " + pgTriggerName + " ON user_groups").Error; err != nil {
		t.Fatal(err)
	}
	if err := checkNotifyTriggers(context.Background(), sqlDB); err == nil || !strings.Contains(err.Error(), "user_groups") {
		t.Fatalf("a missing trigger: got %v, want an error naming user_groups", err)
	}
	if w := Changes(openPG(t, url)); w != nil {
		t.Fatal("a handle on a schema without a trigger has a change watch")
	}
}

// readTables lists the tables q reads: every name after FROM or JOIN.
func readTables(q string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)`).FindAllStringSubmatch(q, -1) {
		if !strings.EqualFold(m[1], "LATERAL") {
			out = append(out, m[1])
		}
	}
	return out
}

// The cached statements of this package (userinfo's, the group names
// subquery the session lookup embeds) read only notified tables.
func TestCachedStatementsReadNotifiedTables(t *testing.T) {
	db := openTestDB(t)
	for _, q := range []string{NewOIDCUserinfoQuery(db).query(db), GroupNamesColumn(db, "u.id")} {
		tables := readTables(q)
		if len(tables) == 0 {
			t.Fatalf("found no table in %q", q)
		}
		for _, table := range tables {
			if !slices.Contains(notifiedTables, table) {
				t.Errorf("%q reads %s, which has no notify trigger (notifiedTables)", q, table)
			}
		}
	}
}

// A lost listener connection: no stamp from the moment the watch notices,
// a commit made while it is down is not missed (the stamp after the
// reconnect differs from every stamp before), and a fresh stamp after.
func TestPostgresListenerReconnects(t *testing.T) {
	skipUnlessPostgres(t)
	url := testdb.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	w := pgWatchOf(t, a)
	s0 := freshStamp(t, w)
	down := make(chan struct{})
	w.holdConnect.Store(&down)
	if err := b.Exec("SELECT pg_terminate_backend(?)", w.pid.Load()).Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for w.up.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not notice its listener's end within 2 s")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := w.Stamp(); ok {
		t.Fatal("a stamp while the listener is down")
	}
	// Committed while nobody listens: its notification is lost.
	if err := b.Exec("UPDATE users SET is_active = false WHERE false").Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok := w.Stamp(); ok {
		t.Fatal("a stamp while the listener is down")
	}
	w.holdConnect.Store(nil)
	close(down)
	if s := freshStamp(t, w); s == s0 {
		t.Fatal("the stamp after a reconnect is the one before it: a commit made while the listener was down would be missed")
	}
}

// A listener that falls behind (here: stops reading) gives no stamp once
// its newest heartbeat back is older than the bound, and stamps again once
// it catches up.
func TestPostgresStampBoundedByHeartbeat(t *testing.T) {
	skipUnlessPostgres(t)
	db := openTestDB(t)
	w := pgWatchOf(t, db)
	freshStamp(t, w)
	hold := make(chan struct{})
	w.hold.Store(&hold)
	held := time.Now()
	// The listener finishes its current wait (at most one heartbeat
	// period), then reads nothing: within the bound plus that period, no
	// stamp.
	time.Sleep(pgStaleBound + pgBeatEvery + 30*time.Millisecond)
	if _, ok := w.Stamp(); ok {
		t.Fatalf("a stamp %v after the listener stopped reading", time.Since(held))
	}
	w.hold.Store(nil)
	close(hold)
	freshStamp(t, w)
}

// An idle watch sends no heartbeats (and so gives no stamp); the first
// request for a stamp wakes them, and a stamp follows.
func TestPostgresHeartbeatsStopWhenIdle(t *testing.T) {
	skipUnlessPostgres(t)
	db := openTestDB(t)
	w := pgWatchOf(t, db)
	freshStamp(t, w)
	time.Sleep(pgIdleAfter + 3*pgIdlePoll)
	before := w.beats.Load()
	time.Sleep(10 * pgBeatEvery)
	if sent := w.beats.Load() - before; sent != 0 {
		t.Fatalf("an idle watch sent %d heartbeats", sent)
	}
	if _, ok := w.Stamp(); ok {
		t.Fatal("a stamp from an idle watch, with no heartbeat for a second")
	}
	start := time.Now()
	freshStamp(t, w)
	if d := time.Since(start); d > pgIdlePoll+pgStaleBound {
		t.Fatalf("a stamp %v after the first request: want within %v", d, pgIdlePoll+pgStaleBound)
	}
	// Busy again: heartbeats go on while stamps are asked for.
	before = w.beats.Load()
	for range 10 {
		freshStamp(t, w)
		time.Sleep(pgBeatEvery)
	}
	if w.beats.Load() == before {
		t.Fatal("no heartbeat while stamps were asked for")
	}
}

// Close stops the listener: its goroutine ends, its connection closes and
// the watch gives no stamp.
func TestPostgresWatchClose(t *testing.T) {
	skipUnlessPostgres(t)
	url := testdb.URL(t)
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	other := openPG(t, url)
	w := pgWatchOf(t, db)
	freshStamp(t, w)
	pid := w.pid.Load()
	if err := Close(db); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	default:
		t.Fatal("the listener goroutine outlived Close")
	}
	if _, ok := w.Stamp(); ok {
		t.Fatal("a closed watch gives stamps")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		var n int64
		if err := other.Raw("SELECT count(*) FROM pg_stat_activity WHERE pid = ?", pid).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener's connection outlived Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
