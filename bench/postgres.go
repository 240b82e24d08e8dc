package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, as the app uses
)

// PostgreSQL mode (-postgres URL): the small and large databases are new
// databases on that server instead of SQLite files; everything else is the
// same run. The URL names a role that may CREATE DATABASE (any database
// name in it is only used to connect); the bench databases are dropped at
// the end unless -keep.

// pgBench creates and drops the run's databases on one server.
type pgBench struct {
	admin *sql.DB
	base  *url.URL
	made  []string
}

func newPGBench(raw string) (*pgBench, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("-postgres: %q is not a postgres:// URL", raw)
	}
	db, err := sql.Open("pgx", raw)
	if err != nil {
		return nil, err
	}
	return &pgBench{admin: db, base: u}, nil
}

// create makes a new, empty database for name and returns its URL.
func (p *pgBench) create(ctx context.Context, name string) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	db := "gh_bench_" + name + "_" + hex.EncodeToString(b)
	if _, err := p.admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	p.made = append(p.made, db)
	u := *p.base
	u.Path = "/" + db
	return u.String(), nil
}

// backends returns the process IDs of the server's backends connected to
// the database of dsn, to read their CPU time (only meaningful when the
// server runs on this machine).
func (p *pgBench) backends(ctx context.Context, dsn string) []int {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	rows, err := p.admin.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		logf("pg_stat_activity: %v", err)
		return nil
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// dropAll drops every database the run made.
func (p *pgBench) dropAll(ctx context.Context) {
	for _, db := range p.made {
		if _, err := p.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			logf("drop %s: %v", db, err)
		}
	}
	p.admin.Close()
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// pgSize is the database's size in MB.
func pgSize(ctx context.Context, db *sql.DB) float64 {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		return 0
	}
	return float64(n) / (1 << 20)
}
