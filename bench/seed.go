package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver the app itself uses

	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"gatehouse/models"
)

// benchPassword is every seeded user's password. Seeded users share one real
// argon2id hash (the app's default parameters), so logging in costs exactly
// what it costs in production and seeding costs one hash.
const benchPassword = "bench-correct-horse-battery"

// seedSpec says how much to seed.
type seedSpec struct {
	users, sessions int
	// pool is how many session cookies (spread over the whole table) the
	// signed-in scenarios cycle through.
	pool int
}

// seeded is what the scenarios need from the seeded database.
type seeded struct {
	pg        bool     // seeded on PostgreSQL
	sizeMB    float64  // PostgreSQL: the database's size after seeding
	cookies   []string // session tokens of seeded, unexpired sessions
	usernames []string // some seeded users' usernames
	took      time.Duration
}

// seed migrates a fresh SQLite file with the app's own schema (models.Open),
// then writes users and sessions straight into it in large transactions of
// multi-row INSERTs. Session rows are inserted in primary-key order with the
// secondary indexes dropped and rebuilt afterwards, which is what keeps a
// million rows to seconds. Cookie tokens are derived from a per-run random
// key, so only the pool's tokens need keeping.
func seed(ctx context.Context, path string, spec seedSpec) (*seeded, error) {
	start := time.Now()
	gdb, err := models.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := models.Close(gdb); err != nil {
		return nil, err
	}
	hash, err := passhash.NewHasher(passhash.DefaultHashParams, 1, time.Minute).Hash(ctx, benchPassword)
	if err != nil {
		return nil, err
	}

	pg := isPostgres(path)
	var db *sql.DB
	if pg {
		db, err = sql.Open("pgx", path)
	} else {
		db, err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if !pg {
		for _, p := range []string{"PRAGMA synchronous=OFF", "PRAGMA cache_size=-262144", "PRAGMA temp_store=MEMORY"} {
			if _, err := db.ExecContext(ctx, p); err != nil {
				return nil, fmt.Errorf("seed: %s: %w", p, err)
			}
		}
	}

	out := &seeded{pg: pg}
	now := time.Now().UTC()
	if err := seedUsers(ctx, db, spec.users, hash, now, out); err != nil {
		return nil, err
	}
	if err := seedSessions(ctx, db, spec, now, out); err != nil {
		return nil, err
	}
	if pg {
		// Statistics for the planner, as autovacuum would gather them.
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, fmt.Errorf("seed: analyze: %w", err)
		}
		out.sizeMB = pgSize(ctx, db)
	} else if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return nil, fmt.Errorf("seed: checkpoint: %w", err)
	}
	out.took = time.Since(start)
	return out, nil
}

func seedUsers(ctx context.Context, db *sql.DB, n int, hash string, now time.Time, out *seeded) error {
	const perStmt = 200
	// ?1 and ?2 are shared by every row: the hash and the join date.
	cols := "(id, username, username_key, email, email_key, password, is_active, is_staff, is_superuser, date_joined)"
	return batchInsert(ctx, db, "users", cols, n, perStmt, []any{hash, now.Add(-24 * time.Hour)},
		func(i, p int) string {
			if out.pg {
				return fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $1, true, false, false, $2)", p, p+1, p+2, p+3, p+4)
			}
			return fmt.Sprintf("(?%d, ?%d, ?%d, ?%d, ?%d, ?1, 1, 0, 0, ?2)", p, p+1, p+2, p+3, p+4)
		},
		func(i int) []any {
			name := benchUsername(i)
			email := name + "@bench.example"
			if len(out.usernames) < 4096 {
				out.usernames = append(out.usernames, name)
			}
			return []any{i + 1, name, validate.UsernameKey(name), email, validate.EmailKey(email)}
		})
}

func benchUsername(i int) string { return fmt.Sprintf("user%07d", i+1) }

// sessionRow is a seeded session before insertion: its ID and which token
// index it came from.
type sessionRow struct {
	id  [sha256.Size]byte
	idx uint32
}

func seedSessions(ctx context.Context, db *sql.DB, spec seedSpec, now time.Time, out *seeded) error {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return err
	}
	rows := make([]sessionRow, spec.sessions)
	for i := range rows {
		rows[i] = sessionRow{id: sha256.Sum256([]byte(benchToken(key, i))), idx: uint32(i)}
	}
	slices.SortFunc(rows, func(a, b sessionRow) int { return bytes.Compare(a.id[:], b.id[:]) })

	// Cookies for the signed-in scenarios: a random sample of the table,
	// so lookups touch pages all over the index, not one hot corner.
	pool := min(spec.pool, spec.sessions)
	for _, i := range mrand.Perm(spec.sessions)[:pool] {
		out.cookies = append(out.cookies, benchToken(key, i))
	}

	// Drop the secondary indexes, insert in key order, rebuild them.
	idx, err := indexSQL(ctx, db, "sessions", out.pg)
	if err != nil {
		return err
	}
	for _, ix := range idx {
		if _, err := db.ExecContext(ctx, "DROP INDEX "+ix.name); err != nil {
			return fmt.Errorf("seed: drop index %s: %w", ix.name, err)
		}
	}
	// last_seen_at is spread over the last minute, so the sessions in use
	// take the once-a-minute write path at the steady rate real users'
	// sessions would (pool/60 writes a second), not all at once.
	shared := []any{now.Add(-time.Hour), now.Add(14 * 24 * time.Hour)}
	cols := "(id, user_id, data, created_at, last_seen_at, expires_at, user_agent, ip)"
	err = batchInsert(ctx, db, "sessions", cols, len(rows), 400, shared,
		func(i, p int) string {
			if out.pg {
				return fmt.Sprintf("($%d, $%d, NULL, $1, $%d, $2, 'gatehouse-bench', '127.0.0.1')", p, p+1, p+2)
			}
			return fmt.Sprintf("(?%d, ?%d, NULL, ?1, ?%d, ?2, 'gatehouse-bench', '127.0.0.1')", p, p+1, p+2)
		},
		func(i int) []any {
			r := rows[i]
			seen := now.Add(-time.Duration(int64(r.idx)*60_000/int64(len(rows))) * time.Millisecond)
			return []any{hex.EncodeToString(r.id[:]), int(r.idx)%spec.users + 1, seen}
		})
	if err != nil {
		return err
	}
	for _, ix := range idx {
		if _, err := db.ExecContext(ctx, ix.sql); err != nil {
			return fmt.Errorf("seed: rebuild index %s: %w", ix.name, err)
		}
	}
	return nil
}

// benchToken is the i-th seeded cookie token: 32 bytes derived from the
// run's random key, in the 43-character base64url form the app issues.
func benchToken(key [32]byte, i int) string {
	var b [40]byte
	copy(b[:], key[:])
	binary.BigEndian.PutUint64(b[32:], uint64(i))
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type index struct{ name, sql string }

// indexSQL returns the CREATE statements of table's explicit indexes.
func indexSQL(ctx context.Context, db *sql.DB, table string, pg bool) ([]index, error) {
	q := "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
	if pg {
		q = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 AND indexname NOT LIKE '%_pkey'"
	}
	rs, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []index
	for rs.Next() {
		var ix index
		if err := rs.Scan(&ix.name, &ix.sql); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rs.Err()
}

// batchInsert inserts n rows into table in one transaction, perStmt rows per
// statement. shared are bound as ?1..?k in every statement; tuple(i, p)
// writes row i's placeholders starting at parameter p; args(i) are its values
// (the same number for every row).
func batchInsert(ctx context.Context, db *sql.DB, table, cols string, n, perStmt int, shared []any,
	tuple func(i, p int) string, args func(i int) []any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := map[int]*sql.Stmt{}
	vals := append([]any(nil), shared...)
	for lo := 0; lo < n; lo += perStmt {
		hi := min(lo+perStmt, n)
		vals = vals[:len(shared)]
		for i := lo; i < hi; i++ {
			vals = append(vals, args(i)...)
		}
		st, ok := stmts[hi-lo]
		if !ok {
			var sb strings.Builder
			p := len(shared) + 1
			for i := lo; i < hi; i++ {
				if i > lo {
					sb.WriteString(", ")
				}
				sb.WriteString(tuple(i, p))
				p += (len(vals) - len(shared)) / (hi - lo)
			}
			st, err = tx.PrepareContext(ctx, "INSERT INTO "+table+" "+cols+" VALUES "+sb.String())
			if err != nil {
				return fmt.Errorf("seed %s: %w", table, err)
			}
			stmts[hi-lo] = st
		}
		if _, err := st.ExecContext(ctx, vals...); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed %s: %w", table, err)
	}
	return nil
}
