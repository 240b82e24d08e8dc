package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL's change stamp is a generation counter of this process, moved
// by two things:
//
//   - this process's own commits, synchronously: every connection of the
//     pool is wrapped (pgConn) so that a commit, an autocommit Exec, or an
//     autocommit Query that is not a plain SELECT bumps the counter once it
//     has completed and before the call that made it returns. A request
//     that begins after a write returned never takes an entry read before
//     it (read-your-writes, as exact as SQLite's).
//   - every other commit to the tables the cached reads depend on
//     (notifiedTables), by any instance, process or psql session: their
//     triggers (migration 00090) NOTIFY the gatehouse_changes channel, and
//     a connection of the watch's own, outside the pool, LISTENs and bumps
//     the counter on each notification.
//
// A notification arrives some time after its commit. How long is bounded,
// not assumed: PostgreSQL delivers notifications in commit order, so the
// listener also NOTIFYs a channel of its own every pgBeatEvery with a
// sequence number, remembering when it sent each; once heartbeat N comes
// back, every commit made before N was sent has been seen. Stamp refuses
// (ok=false, nothing cached or served) unless the newest heartbeat back
// was sent less than pgStaleBound ago, and while the listener is not
// connected. So a hit is never staler than pgStaleBound against another
// instance's commit, and never stale against this process's own. A
// reconnect bumps the counter (and the epoch): notifications sent while
// no listener was connected are lost.

const (
	// pgChangesChannel is the channel the triggers notify.
	pgChangesChannel = "gatehouse_changes"
	// pgBeatEvery is how often the listener sends itself a heartbeat.
	pgBeatEvery = 20 * time.Millisecond
	// pgStaleBound is the most a cached read may lag another instance's
	// commit: the age beyond which the newest heartbeat received no
	// longer vouches for the stamp.
	pgStaleBound = 100 * time.Millisecond
	// pgTriggerName is the triggers' name on each table.
	pgTriggerName = "gatehouse_changes"
	// pgIdleAfter is how long without a request for a stamp before the
	// listener stops sending heartbeats (an idle server sends none);
	// pgIdlePoll is how often it looks again: the first requests after
	// a pause read the database until the next heartbeat is back.
	pgIdleAfter = time.Second
	pgIdlePoll  = 50 * time.Millisecond
)

// notifiedTables are the tables whose commits notify pgChangesChannel
// (migrations/postgres/00090_change_notify.sql makes their triggers): every
// table a cached read (internal/readcache) reads. A table a cached
// statement reads must be listed here and given the trigger in a new
// migration; TestNotifiedTablesHaveTriggers and the cached statements'
// tests (TestCachedStatementsReadNotifiedTables) check both.
var notifiedTables = []string{"sessions", "users", "groups", "user_groups", "oidc_tokens"}

// NotifiedTables returns the tables whose changes by other instances move
// PostgreSQL's change stamp: the only tables a cached read may read.
func NotifiedTables() []string { return append([]string(nil), notifiedTables...) }

// pgGeneration is the counter a PostgreSQL handle's connections and its
// watch's listener move.
type pgGeneration struct{ n atomic.Uint64 }

func (g *pgGeneration) bump() { g.n.Add(1) }

// pgTimeZone is how gorm.io/driver/postgres finds a time zone in a DSN; a
// pool built here honours it as that driver's own would.
var pgTimeZone = regexp.MustCompile("(time_zone|TimeZone|timezone)=(.*?)($|&| )")

// openPostgresPool opens a pool on dsn whose connections bump gen after
// every write they commit (pgConn). It returns the parsed configuration,
// for the listener's connection.
func openPostgresPool(dsn string, gen *pgGeneration) (*sql.DB, *pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	var opts []stdlib.OptionOpenDB
	if m := pgTimeZone.FindStringSubmatch(dsn); len(m) > 2 {
		cfg.RuntimeParams["timezone"] = m[2]
		tz := m[2]
		opts = append(opts, stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return err
			}
			conn.TypeMap().RegisterType(&pgtype.Type{
				Name: "timestamp", OID: pgtype.TimestampOID,
				Codec: &pgtype.TimestampCodec{ScanLocation: loc},
			})
			return nil
		}))
	}
	return sql.OpenDB(&pgConnector{Connector: stdlib.GetConnector(*cfg, opts...), gen: gen}), cfg, nil
}

// pgConnector opens pgx's database/sql connections, each wrapped in a
// pgConn that bumps gen.
type pgConnector struct {
	driver.Connector
	gen *pgGeneration
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("change watch: unexpected pgx connection type %T", conn)
	}
	return &pgConn{pgxConn: sc, gen: c.gen}, nil
}

// The wrappers embed pgx's own types under these names, so every method
// of theirs, and so every optional interface database/sql looks for
// (driver.ExecerContext, QueryerContext, ConnPrepareContext, ConnBeginTx,
// Pinger, SessionResetter, NamedValueChecker, the rows' column types…),
// is still there (TestPgConnKeepsDriverInterfaces): a missing one would
// quietly change what database/sql does.
type (
	pgxConn = stdlib.Conn
	pgxStmt = stdlib.Stmt
	pgxRows = stdlib.Rows
)

// pgConn is a pool connection that bumps gen once a write it made has
// committed: after a transaction's Commit, and after an autocommit Exec,
// or Query not a plain read (isPlainRead), has completed. database/sql
// uses a connection from one goroutine at a time.
type pgConn struct {
	*pgxConn
	gen *pgGeneration
}

// afterWrite bumps the generation unless the connection is inside a
// transaction (then its Commit will): the statement has completed, so an
// autocommit write has committed.
func (c *pgConn) afterWrite() {
	switch c.Conn().PgConn().TxStatus() {
	case 'T', 'E':
	default:
		c.gen.bump()
	}
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.pgxConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &pgStmt{pgxStmt: st.(*stdlib.Stmt), conn: c, read: isPlainRead(query)}, nil
}

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.pgxConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return pgTx{Tx: tx, gen: c.gen}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.pgxConn.ExecContext(ctx, query, args)
	c.afterWrite()
	return res, err
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.query(isPlainRead(query), func() (driver.Rows, error) { return c.pgxConn.QueryContext(ctx, query, args) })
}

// query runs q; a write's rows bump the generation when closed (an
// autocommit INSERT … RETURNING commits after its last row).
func (c *pgConn) query(read bool, q func() (driver.Rows, error)) (driver.Rows, error) {
	rows, err := q()
	if read {
		return rows, err
	}
	if err != nil {
		c.afterWrite()
		return nil, err
	}
	return &pgRows{pgxRows: rows.(*stdlib.Rows), conn: c}, nil
}

// pgTx bumps the generation after its Commit, whatever Commit says: a
// commit whose answer was lost may still have happened.
type pgTx struct {
	driver.Tx
	gen *pgGeneration
}

func (t pgTx) Commit() error {
	err := t.Tx.Commit()
	t.gen.bump()
	return err
}

// pgStmt is a prepared statement of a pgConn (models.Prepared, the
// session touch flush): its executions count as the connection's.
type pgStmt struct {
	*pgxStmt
	conn *pgConn
	read bool
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.pgxStmt.ExecContext(ctx, args)
	s.conn.afterWrite()
	return res, err
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.query(s.read, func() (driver.Rows, error) { return s.pgxStmt.QueryContext(ctx, args) })
}

// pgRows are a writing query's rows: closing them ends the statement (and
// an autocommit one's transaction).
type pgRows struct {
	*pgxRows
	conn *pgConn
}

func (r *pgRows) Close() error {
	err := r.pgxRows.Close()
	r.conn.afterWrite()
	return err
}

// isPlainRead reports whether query is one SELECT statement: its first
// word, after spaces and comments, is SELECT, and it holds no ';' but at
// its end. Anything else may write and counts as a write (a
// data-modifying CTE starts with WITH; a second statement after a ';'
// might write; a '(' first is not looked into).
func isPlainRead(query string) bool {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return false
			}
			q = q[i+1:]
			continue
		case strings.HasPrefix(q, "/*"):
			// PostgreSQL's block comments nest.
			depth, i := 0, 0
			for i < len(q) {
				switch {
				case strings.HasPrefix(q[i:], "/*"):
					depth++
					i += 2
				case strings.HasPrefix(q[i:], "*/"):
					depth--
					i += 2
				default:
					i++
				}
				if depth == 0 {
					break
				}
			}
			if depth != 0 {
				return false
			}
			q = q[i:]
			continue
		}
		break
	}
	if len(q) < 6 || !strings.EqualFold(q[:6], "select") {
		return false
	}
	if len(q) > 6 {
		if c := q[6]; c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			return false // a longer word
		}
	}
	return !strings.Contains(strings.TrimRight(q, " \t\r\n\f\v;"), ";")
}

// pgWatch is a PostgreSQL handle's change watch (see the top of the file).
type pgWatch struct {
	gen   *pgGeneration
	epoch atomic.Uint64
	// up is true while the listener is connected and listening.
	up atomic.Bool
	// beat is when the newest heartbeat received was sent (since base,
	// plus one; 0 for none since the listener connected).
	beat atomic.Int64
	base time.Time
	// asked is when Stamp was last called (since base, updated at most
	// every pgBeatEvery); beats counts the heartbeats sent (tests).
	asked atomic.Int64
	beats atomic.Uint64

	cfg     *pgx.ConnConfig
	channel string // the heartbeats' channel, this watch's own
	log     *slog.Logger

	// sent are the send times of the last heartbeats, by sequence
	// number; only the listener goroutine uses them.
	seq  uint64
	sent [64]struct {
		seq uint64
		at  int64
	}

	// pid is the listener's backend (tests terminate it).
	pid atomic.Uint32
	// hold, when set, stops the listener reading until it is closed
	// (tests: a listener that has fallen behind); holdConnect stops it
	// reconnecting (tests: a listener down for a while).
	hold, holdConnect atomic.Pointer[chan struct{}]

	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// watchPostgres starts the change watch of the pool gen counts for, on a
// connection of its own made from cfg; db checks the triggers first. With
// a trigger missing (a schema not migrated) it returns an error and no
// watch: nothing would tell it of another instance's writes.
func watchPostgres(ctx context.Context, db *sql.DB, cfg *pgx.ConnConfig, gen *pgGeneration, log *slog.Logger) (*pgWatch, error) {
	if err := checkNotifyTriggers(ctx, db); err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &pgWatch{
		gen: gen, base: time.Now(), cfg: cfg, log: log,
		channel: "gatehouse_beat_" + hex.EncodeToString(b),
		done:    make(chan struct{}),
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stop = stop
	go w.run(runCtx)
	return w, nil
}

// checkNotifyTriggers reports a table of notifiedTables without its
// enabled trigger.
func checkNotifyTriggers(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"+
		" WHERE t.tgname = $1 AND t.tgenabled <> 'D' AND pg_table_is_visible(c.oid)", pgTriggerName)
	if err != nil {
		return fmt.Errorf("change watch: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("change watch: %w", err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("change watch: %w", err)
	}
	for _, t := range notifiedTables {
		if !have[t] {
			return fmt.Errorf("change watch: table %s has no %s trigger (schema not migrated?)", t, pgTriggerName)
		}
	}
	return nil
}

// now is the time since base, plus one (never 0), on the monotonic clock.
func (w *pgWatch) now() int64 { return int64(time.Since(w.base)) + 1 }

// Stamp returns the generation and the listener's epoch; ok only while
// the listener is connected and its newest heartbeat back was sent less
// than pgStaleBound ago. Atomics and a clock read: it runs per request.
func (w *pgWatch) Stamp() (ChangeStamp, bool) {
	var s ChangeStamp
	now := w.now()
	if now-w.asked.Load() > int64(pgBeatEvery) {
		w.asked.Store(now) // keeps (or wakes) the heartbeats
	}
	if !w.up.Load() {
		return s, false
	}
	// The heartbeat before the counter: the listener bumps for every
	// notification before it records the heartbeat behind them. (now was
	// read first: a heartbeat sent since is only younger.)
	beat := w.beat.Load()
	if beat == 0 || now-beat >= int64(pgStaleBound) {
		return s, false
	}
	s.w[0] = w.gen.n.Load()
	s.w[1] = w.epoch.Load()
	return s, true
}

// close stops the listener and waits for it to close its connection.
func (w *pgWatch) close() {
	w.once.Do(func() {
		w.up.Store(false)
		w.stop()
		<-w.done
	})
}

// run keeps a listener connected until stopped, reconnecting with backoff.
func (w *pgWatch) run(ctx context.Context) {
	defer close(w.done)
	backoff := 50 * time.Millisecond
	for {
		if h := w.holdConnect.Load(); h != nil {
			select {
			case <-*h:
			case <-ctx.Done():
				return
			}
		}
		conn, err := w.connect(ctx)
		if err == nil {
			backoff = 50 * time.Millisecond
			err = w.listen(ctx, conn)
			w.up.Store(false)
			w.beat.Store(0)
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("database change listener disconnected; lookups are not cached until it reconnects", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// connect opens the listener's connection and listens on both channels.
// Whatever was committed while no listener was connected went unnoticed:
// the counter moves (and the epoch), so nothing read before is served.
func (w *pgWatch) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg := w.cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// A heartbeat is a transaction: it need not wait for its commit
	// record to reach the disk (50 flushes a second otherwise). Its
	// place in the commit order, all the bound rests on, is the same.
	cfg.RuntimeParams["synchronous_commit"] = "off"
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, ch := range []string{pgChangesChannel, w.channel} {
		if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	w.pid.Store(conn.PgConn().PID())
	w.epoch.Add(1)
	w.gen.bump()
	w.up.Store(true)
	return conn, nil
}

// listen reads notifications until the connection fails or ctx ends,
// sending a heartbeat every pgBeatEvery.
func (w *pgWatch) listen(ctx context.Context, conn *pgx.Conn) error {
	next := time.Now()
	var firstBeat time.Time // of this connection
	warned := false
	for {
		if !warned && !firstBeat.IsZero() && w.beat.Load() == 0 && time.Since(firstBeat) > 5*time.Second {
			// LISTEN through a pooler in transaction mode, say: the
			// notifications never come back.
			w.log.Warn("database change listener gets no heartbeat back; lookups are not cached")
			warned = true
		}
		if h := w.hold.Load(); h != nil {
			select {
			case <-*h:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !time.Now().Before(next) {
			if w.now()-w.asked.Load() > int64(pgIdleAfter) {
				// Nobody asked for a stamp lately: no heartbeat (an idle
				// server costs the database nothing). Notifications still
				// move the counter meanwhile.
				next = time.Now().Add(pgIdlePoll)
			} else {
				if err := w.sendBeat(ctx, conn); err != nil {
					return err
				}
				if firstBeat.IsZero() {
					firstBeat = time.Now()
				}
				next = time.Now().Add(pgBeatEvery)
			}
		}
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			w.received(n.Channel, n.Payload)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if conn.IsClosed() || wctx.Err() == nil {
			return err
		}
		// The wait timed out: time for the next heartbeat.
	}
}

// sendBeat notifies the watch's own channel with the next sequence
// number, recording when.
func (w *pgWatch) sendBeat(ctx context.Context, conn *pgx.Conn) error {
	w.seq++
	w.beats.Add(1)
	slot := &w.sent[w.seq%uint64(len(w.sent))]
	slot.seq, slot.at = w.seq, w.now()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := conn.Exec(sctx, "SELECT pg_notify($1, $2)", w.channel, strconv.FormatUint(w.seq, 10))
	return err
}

// received handles one notification: a heartbeat of ours vouches for
// every commit before its sending; anything else is a change.
func (w *pgWatch) received(channel, payload string) {
	if channel == w.channel {
		seq, err := strconv.ParseUint(payload, 10, 64)
		if err != nil {
			return
		}
		if slot := w.sent[seq%uint64(len(w.sent))]; slot.seq == seq && slot.at > w.beat.Load() {
			w.beat.Store(slot.at)
		}
		return
	}
	w.gen.bump()
}
