package models

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/testdb"
)

// planCapture records the SQLite query plan of every query GORM runs on a
// database, by running EXPLAIN QUERY PLAN with the same SQL and arguments
// right after it.
type planCapture struct {
	mu    sync.Mutex
	plans []queryPlan
}

type queryPlan struct {
	SQL   string
	Steps []string
}

func (p queryPlan) String() string {
	return p.SQL + "\n    " + strings.Join(p.Steps, "\n    ")
}

func capturePlans(t *testing.T, db *gorm.DB) *planCapture {
	t.Helper()
	pc := &planCapture{}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	err = db.Callback().Query().After("gorm:query").Register("test:explain", func(tx *gorm.DB) {
		if tx.Error != nil {
			return
		}
		sql := tx.Statement.SQL.String()
		rows, err := sqlDB.Query("EXPLAIN QUERY PLAN "+sql, tx.Statement.Vars...)
		if err != nil {
			t.Errorf("explain %s: %v", sql, err)
			return
		}
		defer rows.Close()
		qp := queryPlan{SQL: sql}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Errorf("explain scan: %v", err)
				return
			}
			qp.Steps = append(qp.Steps, detail)
		}
		pc.mu.Lock()
		pc.plans = append(pc.plans, qp)
		pc.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Callback().Query().Remove("test:explain") })
	return pc
}

func (pc *planCapture) take() []queryPlan {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	p := pc.plans
	pc.plans = nil
	return p
}

// seedUsers inserts n users in one transaction with raw INSERTs (hashing n
// passwords would take minutes; these accounts cannot log in). Usernames are
// user000000…, addresses spread over a few domains; 1 in 20 is inactive, 1 in
// 100 staff, 1 in 1000 superuser, 1 in 3 has never logged in.
func seedUsers(t testing.TB, db *gorm.DB, n int) {
	t.Helper()
	start := time.Now()
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	domains := []string{"example.com", "Example.org", "mail.test", "ÉCOLE.fr"}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sqlDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.Prepare(dialectOf(db).rebind(`INSERT INTO users (username, username_key, email, email_key, password, is_active, is_staff, is_superuser, date_joined, last_login)
		VALUES (?, ?, ?, ?, '!', ?, ?, ?, ?, ?)`))
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("user%06d", i)
		email := fmt.Sprintf("%s@%s", name, domains[i%len(domains)])
		joined := base.Add(time.Duration((i*7919)%n) * time.Minute)
		var last *time.Time
		if i%3 != 0 {
			l := joined.Add(time.Duration(i%977) * time.Hour)
			last = &l
		}
		// The keys are what UsernameKey and EmailKey give for these
		// ASCII names and domains, computed cheaply.
		ekey := name + "@" + strings.ToLower(domains[i%len(domains)])
		if i < len(domains) && (ekey != EmailKey(email) || name != UsernameKey(name)) {
			t.Fatalf("seed keys of %q: got %q, want %q", email, ekey, EmailKey(email))
		}
		if _, err := stmt.Exec(name, name, email, ekey, i%20 != 7, i%100 == 3, i%1000 == 3, joined, last); err != nil {
			t.Fatalf("seed users: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("seed users: %v", err)
	}
	// Fresh statistics, as autovacuum (PostgreSQL) or a long-running
	// database would have them.
	if err := db.Exec("ANALYZE").Error; err != nil {
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("seeded %d users in %v", n, time.Since(start).Round(time.Millisecond))
}

// listCases are the user-list paths the admin offers: each sort in both
// directions, the search alone and with filters and sorts, the filters
// alone, and a deep page.
func listCases() []struct {
	name string
	q    UserQuery
} {
	return []struct {
		name string
		q    UserQuery
	}{
		{"default", UserQuery{}},
		{"username desc", UserQuery{Sort: SortUsername, Desc: true}},
		{"date joined", UserQuery{Sort: SortDateJoined}},
		{"date joined desc", UserQuery{Sort: SortDateJoined, Desc: true}},
		{"last login", UserQuery{Sort: SortLastLogin}},
		{"last login desc", UserQuery{Sort: SortLastLogin, Desc: true}},
		{"deep page", UserQuery{Sort: SortDateJoined, Page: 1500}},
		{"search", UserQuery{Search: "USER0999"}},
		{"search short", UserQuery{Search: "u"}},
		{"search e-mail, non-ASCII case", UserQuery{Search: "USER001235@ÉC"}},
		{"search sorted by last login", UserQuery{Search: "user01", Sort: SortLastLogin, Desc: true}},
		{"search with filters", UserQuery{Search: "user0", Active: Yes, Staff: No}},
		{"active filter", UserQuery{Active: No}},
		{"staff filter", UserQuery{Staff: Yes, Sort: SortDateJoined}},
		{"superuser filter", UserQuery{Superuser: Yes, Active: Yes}},
	}
}

// TestUserListQueryPlans shows, through GORM, the plan SQLite picks for
// every list path: no query reads the users table in full ("SCAN users"
// without an index), and searches are range searches on the key indexes.
func TestUserListQueryPlans(t *testing.T) {
	testdb.SkipOnPostgres(t, "reads SQLite's EXPLAIN QUERY PLAN")
	users := openTestUsers(t)
	seedUsers(t, users.db, 2000)
	pc := capturePlans(t, users.db)
	for _, tc := range listCases() {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := users.List(context.Background(), tc.q); err != nil {
				t.Fatal(err)
			}
			plans := pc.take()
			if len(plans) == 0 {
				t.Fatal("got no captured queries, want the count and the page")
			}
			for _, p := range plans {
				t.Logf("%s", p)
				for _, step := range p.Steps {
					if step == "SCAN users" || strings.HasPrefix(step, "SCAN users ") && !strings.Contains(step, "INDEX") {
						t.Errorf("full table scan %q in plan of\n%s", step, p)
					}
				}
				if tc.q.Search != "" {
					wantStep(t, p, "SEARCH users USING COVERING INDEX idx_users_username_key (username_key>? AND username_key<?)")
					wantStep(t, p, "SEARCH users USING COVERING INDEX idx_users_email_key (email_key>? AND email_key<?)")
				}
			}
		})
	}
}

func wantStep(t *testing.T, p queryPlan, step string) {
	t.Helper()
	for _, s := range p.Steps {
		if s == step {
			return
		}
	}
	t.Errorf("plan lacks %q:\n%s", step, p)
}

// TestUserList100k measures every list path on 100,000 users (skipped with
// -short). The bound is loose, for a shared CI machine; the log shows the
// real numbers.
func TestUserList100k(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 users")
	}
	users := openTestUsers(t)
	seedUsers(t, users.db, 100_000)
	ctx := context.Background()
	for _, tc := range listCases() {
		// The first run warms the page cache and the prepared statement.
		if _, err := users.List(ctx, tc.q); err != nil {
			t.Fatal(err)
		}
		const runs = 5
		start := time.Now()
		var l *UserList
		for i := 0; i < runs; i++ {
			var err error
			if l, err = users.List(ctx, tc.q); err != nil {
				t.Fatal(err)
			}
		}
		avg := time.Since(start) / runs
		t.Logf("%-28s total %6d  page %4d/%-4d  %v per page", tc.name, l.Total, l.Page, l.Pages, avg.Round(10*time.Microsecond))
		if avg > 500*time.Millisecond {
			t.Errorf("%s: got %v per page, want well under 500ms", tc.name, avg)
		}
	}
}
