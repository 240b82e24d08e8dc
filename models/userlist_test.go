package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/internal/testdb"
	"gatehouse/internal/validate"
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

// seededUser is one row seedUsers inserts (the i-th, so its ID is i+1 in
// a fresh table).
type seededUser struct {
	username, email, usernameKey, emailKey string
	active, staff, superuser               bool
	joined                                 time.Time
	lastLogin                              *time.Time
}

// seededUsers are the n rows seedUsers inserts: usernames user000000…,
// addresses spread over a few domains; 1 in 20 is inactive, 1 in 100
// staff, 1 in 1000 superuser, 1 in 3 has never logged in; join dates a
// permutation of n minutes.
func seededUsers(n int) []seededUser {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	domains := []string{"example.com", "Example.org", "mail.test", "ÉCOLE.fr"}
	out := make([]seededUser, n)
	for i := range out {
		name := fmt.Sprintf("user%06d", i)
		joined := base.Add(time.Duration((i*7919)%n) * time.Minute)
		var last *time.Time
		if i%3 != 0 {
			l := joined.Add(time.Duration(i%977) * time.Hour)
			last = &l
		}
		// The keys are what UsernameKey and EmailKey give for these
		// ASCII names and domains, computed cheaply (seedUsers checks a
		// few against the real functions).
		out[i] = seededUser{username: name, email: name + "@" + domains[i%len(domains)],
			usernameKey: name, emailKey: name + "@" + strings.ToLower(domains[i%len(domains)]),
			active: i%20 != 7, staff: i%100 == 3, superuser: i%1000 == 3, joined: joined, lastLogin: last}
	}
	return out
}

// seedUsers inserts seededUsers(n) in one transaction with raw INSERTs
// (hashing n passwords would take minutes; these accounts cannot log in).
func seedUsers(t testing.TB, db *gorm.DB, n int) {
	t.Helper()
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
	for i, u := range seededUsers(n) {
		if i < 4 && (u.emailKey != validate.EmailKey(u.email) || u.usernameKey != validate.UsernameKey(u.username)) {
			t.Fatalf("seed keys of %q: got %q, want %q", u.email, u.emailKey, validate.EmailKey(u.email))
		}
		if _, err := stmt.Exec(u.username, u.usernameKey, u.email, u.emailKey, u.active, u.staff, u.superuser, u.joined, u.lastLogin); err != nil {
			t.Fatalf("seed users: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("seed users: %v", err)
	}
	// Fresh statistics, as autovacuum would have them on PostgreSQL.
	// (SQLite plans these queries best without sqlite_stat1.)
	if dialectOf(db) == dialectPostgres {
		if err := db.Exec("ANALYZE").Error; err != nil {
			t.Fatalf("analyze: %v", err)
		}
	}
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

// wantPage is the page of q over users as the list must show it, worked
// out in Go by filtering and sorting every seeded row (IDs are insertion
// order; nullsFirst is where the database puts a NULL last_login in
// ascending order): the total, the page numbers and the usernames on it.
func wantPage(users []seededUser, q UserQuery, nullsFirst bool) (total int64, page, pages int, names []string) {
	per := q.PerPage
	if per <= 0 || per > MaxPerPage {
		per = DefaultPerPage
	}
	type row struct {
		i int
		u seededUser
	}
	var rows []row
	search := strings.TrimSpace(q.Search)
	tri := func(v Tristate, b bool) bool { return v == Any || (v == Yes) == b }
	for i, u := range users {
		if search != "" && !strings.HasPrefix(u.usernameKey, validate.UsernameKey(search)) && !strings.HasPrefix(u.emailKey, validate.EmailKey(search)) {
			continue
		}
		if tri(q.Active, u.active) && tri(q.Staff, u.staff) && tri(q.Superuser, u.superuser) {
			rows = append(rows, row{i, u})
		}
	}
	cmpRows := func(a, b row) int {
		switch q.Sort {
		case SortDateJoined:
			return cmp.Or(a.u.joined.Compare(b.u.joined), cmp.Compare(a.i, b.i))
		case SortLastLogin:
			switch {
			case a.u.lastLogin == nil && b.u.lastLogin == nil:
				return cmp.Compare(a.i, b.i)
			case a.u.lastLogin == nil && nullsFirst, b.u.lastLogin == nil && !nullsFirst:
				return -1
			case a.u.lastLogin == nil, b.u.lastLogin == nil:
				return 1
			}
			return cmp.Or(a.u.lastLogin.Compare(*b.u.lastLogin), cmp.Compare(a.i, b.i))
		}
		return strings.Compare(a.u.usernameKey, b.u.usernameKey)
	}
	slices.SortFunc(rows, func(a, b row) int {
		if q.Desc {
			return cmpRows(b, a)
		}
		return cmpRows(a, b)
	})
	pages = max(1, (len(rows)+per-1)/per)
	page = min(max(q.Page, 1), pages)
	for _, r := range rows[min((page-1)*per, len(rows)):min(page*per, len(rows))] {
		names = append(names, r.u.username)
	}
	return int64(len(rows)), page, pages, names
}

// TestUserList100k: on 100,000 users every list path (each sort both
// ways, searches, filters, a deep page, the last page and one past it)
// shows exactly the page it should — the total, the page count and the
// users in order, as worked out independently in Go. Skipped with -short.
// How fast each path is, is BenchmarkUserList100k's to say.
func TestUserList100k(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 users")
	}
	const n = 100_000
	users := openTestUsers(t)
	seedUsers(t, users.db, n)
	all := seededUsers(n)
	nullsFirst := dialectOf(users.db) != dialectPostgres
	ctx := context.Background()
	cases := append(listCases(),
		struct {
			name string
			q    UserQuery
		}{"last page", UserQuery{Page: n / DefaultPerPage}},
		struct {
			name string
			q    UserQuery
		}{"past the last page", UserQuery{Page: n, Sort: SortLastLogin}},
		struct {
			name string
			q    UserQuery
		}{"200 a page, deep, by last login desc", UserQuery{PerPage: MaxPerPage, Page: 333, Sort: SortLastLogin, Desc: true}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := users.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			total, page, pages, names := wantPage(all, tc.q, nullsFirst)
			if l.Total != total || l.Page != page || l.Pages != pages {
				t.Errorf("got total %d, page %d of %d; want %d, %d of %d", l.Total, l.Page, l.Pages, total, page, pages)
			}
			var got []string
			for _, u := range l.Users {
				got = append(got, u.Username)
			}
			if !slices.Equal(got, names) {
				t.Errorf("users on the page:\n got %v\nwant %v", got, names)
			}
		})
	}
}

// BenchmarkUserList100k times every list path on 100,000 users, one
// sub-benchmark per path (go test -bench UserList100k ./models). The
// target (well under 500 ms a page on a shared machine; a few ms on a quiet
// one) is read from its output, not asserted by a test.
func BenchmarkUserList100k(b *testing.B) {
	db, err := Open(context.Background(), testdb.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = Close(db) })
	users := NewUsers(db, passhash.NewHasher(cheap, 2, time.Second))
	seedUsers(b, db, 100_000)
	ctx := context.Background()
	for _, tc := range listCases() {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := users.List(ctx, tc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
