package models

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
)

// TestLegacyHashesReadTheirIndexOnly: the legacy dummy's refresh runs at
// start and every sweep; it must read the partial index of legacy hashes,
// not every user's row (on SQLite the full scan also left the pages in a
// pooled connection's cache: 16 MB at 100,000 users). The plan is checked
// on both databases, so the query's condition and the index's cannot drift
// apart; the refresh still finds exactly the legacy hashes.
func TestLegacyHashesReadTheirIndexOnly(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	users := NewUsers(db, passhash.NewHasher(cheap, 2, time.Second))
	const legacy = "pbkdf2_sha256$600000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="
	for i, pw := range []string{legacy, "", "!unusable", "$argon2id$"} {
		u, err := users.Create(ctx, NewUser{Username: "legacy" + string(rune('a'+i)), Password: "a long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		if pw != "$argon2id$" { // that one keeps its real argon2id hash
			if err := db.Model(&User{}).Where("id = ?", u.ID).Update("password", pw).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	h := passhash.NewHasher(cheap, 1, time.Second)
	if n, err := RefreshLegacyDummy(ctx, db, h); err != nil || n != 1 {
		t.Fatalf("RefreshLegacyDummy: %d legacy hashes, %v; want 1", n, err)
	}

	// The statement as it runs: its SQL and its bound values (a condition
	// given as parameters would not match the index's, and inlined values
	// would hide that).
	var hashes []string
	stmt := legacyHashes(db.Session(&gorm.Session{DryRun: true})).Pluck("password", &hashes).Statement
	query, vars := stmt.SQL.String(), stmt.Vars
	var plan string
	switch db.Dialector.Name() {
	case "sqlite":
		rows, err := db.Raw("EXPLAIN QUERY PLAN "+query, vars...).Rows()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail + "\n"
		}
		rows.Close()
	default:
		// A few rows: PostgreSQL would rightly scan them all; forbid it
		// to see whether the index can serve the query at all.
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
				return err
			}
			rows, err := tx.Raw("EXPLAIN "+query, vars...).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				plan += line + "\n"
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(plan, "idx_users_legacy_hash") {
		t.Fatalf("the legacy hashes' query does not use idx_users_legacy_hash:\n%s\nplan:\n%s", query, plan)
	}
}
