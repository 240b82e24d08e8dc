package websession

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"context"
	sqlite3 "github.com/mattn/go-sqlite3"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/internal/passhash"
	"gatehouse/models"

	"gorm.io/gorm/schema"
)

// TestUserColumnsMatchSchema keeps the session hot path's hand-written
// column list in step with models.SessionUser, the part of the user row
// request handling sees: a column added to SessionUser and not to
// userColumns would be silently empty on every signed-in request. (A
// column added to User outside SessionUser is not on the hot path, and no
// handler can read it from the session's user: it has no such field.)
func TestUserColumnsMatchSchema(t *testing.T) {
	s, err := schema.Parse(&models.SessionUser{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUserColumns(s.DBNames); err != nil {
		t.Fatal(err)
	}
	if err := checkUserColumns(append(s.DBNames, "nickname")); err == nil {
		t.Error("checkUserColumns with an extra model column: got nil, want an error")
	}
	if err := checkUserColumns(s.DBNames[1:]); err == nil {
		t.Error("checkUserColumns with a column missing from the model: got nil, want an error")
	}
}

// TestSessionLookupReadsGroups: the one hot-path statement returns the
// signed-in user's group names, sorted as NamesOf sorts them, live (a
// membership removed is gone on the next lookup), and none for a user in
// no group; only for a request marked WithGroups. On PostgreSQL this runs
// the batched statements, on SQLite the single ones.
func TestSessionLookupReadsGroups(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	hasher := passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
	users := models.NewUsers(db, hasher)
	alice, err := users.Create(ctx, models.NewUser{Username: "alice", Email: "alice@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := users.Create(ctx, models.NewUser{Username: "bob", Email: "bob@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	var opsID uint
	for _, name := range []string{"ops", "Dev team", "ärzte", "admins"} {
		if err := db.Transaction(func(tx *gorm.DB) error {
			g, _, err := models.EnsureGroup(tx, name)
			if err != nil {
				return err
			}
			if name == "ops" {
				opsID = g.ID
			}
			_, err = models.AddMembers(tx, g.ID, []uint{alice.ID})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	store := NewSessionStore(db, time.Hour, time.Hour, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	lookup := func(t *testing.T, token string) *models.SessionState {
		t.Helper()
		req := httptest.NewRequestWithContext(WithGroups(ctx), http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: token})
		s, err := store.New(req, SessionCookieName)
		if err != nil || s.IsNew {
			t.Fatalf("lookup: got new=%v err=%v, want the stored session", s.IsNew, err)
		}
		return StateOf(s.Values)
	}
	signIn := func(t *testing.T, u *models.User) string {
		t.Helper()
		var ns models.NewSession
		if err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			ns, err = models.SignIn(tx, ctx, "", u, models.AuthPassword, true, store.life)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ns.Token()
	}
	wantGroups := func(t *testing.T, st *models.SessionState, userID uint) {
		t.Helper()
		names, err := models.NewGroups(db).NamesOf(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(names, ","); !st.GroupsRead || st.GroupNames != want {
			t.Errorf("groups: got %q (read %v), want %q (read)", st.GroupNames, st.GroupsRead, want)
		}
	}

	aliceToken := signIn(t, alice)
	st := lookup(t, aliceToken)
	wantGroups(t, st, alice.ID)
	if strings.Count(st.GroupNames, ",") != 3 {
		t.Errorf("alice's groups: got %q, want four", st.GroupNames)
	}
	if err := db.Where("user_id = ? AND group_id = ?", alice.ID, opsID).Delete(&models.UserGroup{}).Error; err != nil {
		t.Fatal(err)
	}
	st = lookup(t, aliceToken)
	wantGroups(t, st, alice.ID)
	if strings.Contains(st.GroupNames, "ops") {
		t.Errorf("after leaving ops: got %q", st.GroupNames)
	}
	wantGroups(t, lookup(t, signIn(t, bob)), bob.ID)

	// Without WithGroups, the lookup does not read them.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookieName, Value: aliceToken})
	s, err := store.New(req, SessionCookieName)
	if err != nil || s.IsNew {
		t.Fatalf("lookup: got new=%v err=%v, want the stored session", s.IsNew, err)
	}
	if st := StateOf(s.Values); !st.SignedIn() || st.GroupsRead || st.GroupNames != "" {
		t.Errorf("lookup without WithGroups: signed in %v, groups %q read %v", st.SignedIn(), st.GroupNames, st.GroupsRead)
	}

}

// TestPackedLookupMatchesColumns: SQLite's lookup (one packed column for
// the session, the user's rights as bits) reads exactly what the plain
// columns hold, field for field, for sessions whose every column is set
// (and set to a value that is not its zero value) and for ones with as
// little as can be: a signed-in user with every right, staff only and none, a pending
// second factor, an anonymous session, a user gone. The plain reading is
// sessionColumns scanned by scanSession (PostgreSQL's scan), on SQLite with
// the driver's own timestamp parsing.
func TestPackedLookupMatchesColumns(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if models.IsPostgres(db) {
		t.Skip("the packed lookup is SQLite's")
	}
	hasher := passhash.NewHasher(passhash.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
	users := models.NewUsers(db, hasher)
	all, err := users.Create(ctx, models.NewUser{Username: "all.rights", Email: "all@example.com", Password: "a long enough passphrase", IsSuperuser: true})
	if err != nil {
		t.Fatal(err)
	}
	none, err := users.Create(ctx, models.NewUser{Username: "none", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	staff, err := users.Create(ctx, models.NewUser{Username: "staff", Email: "staff@example.com", Password: "a long enough passphrase", IsStaff: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE users SET language = 'de', time_zone = 'Europe/Berlin', email_verified = ? WHERE id = ?", true, all.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE users SET email_verified = ? WHERE id = ?", false, staff.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE users SET is_active = ?, email_verified = ? WHERE id = ?", false, false, none.ID).Error; err != nil {
		t.Fatal(err)
	}
	gone := uint(1 << 30)
	now := time.Now().UTC()
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	rows := map[string]models.Session{
		"every column": {UserID: &all.ID, AuthAt: at(-time.Hour), AuthMethod: "password+totp", ReauthAt: at(-time.Minute),
			PendingUserID: &none.ID, PendingAt: at(-time.Second), Persistent: true, ResetHash: strings.Repeat("ab", 32),
			Data: []byte("flashes"), CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-3 * time.Minute), ExpiresAt: now.Add(time.Hour)},
		"staff only": {UserID: &staff.ID, AuthAt: at(0), AuthMethod: "password", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
		"no rights":  {UserID: &none.ID, AuthAt: at(0), AuthMethod: "password", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
		"pending":    {PendingUserID: &all.ID, PendingAt: at(0), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute)},
		"anonymous":  {ResetHash: "cd", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute)},
		"user gone":  {UserID: &gone, AuthAt: at(0), AuthMethod: "passkey", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Minute)},
	}
	if err := db.Exec("PRAGMA foreign_keys = OFF").Error; err != nil { // for "user gone"
		t.Fatal(err)
	}
	for name, r := range rows {
		r.ID = rowID(name)
		if err := db.Create(&r).Error; err != nil {
			t.Fatal(err)
		}
	}
	for name := range rows {
		t.Run(name, func(t *testing.T) {
			id := rowID(name)
			for _, groups := range []string{"", models.GroupNamesColumn(db, "u.id")} {
				sqlDB, err := db.DB()
				if err != nil {
					t.Fatal(err)
				}
				packed, err := scanPacked(sqlDB.QueryRowContext(ctx, packedSessionQuery(groups), id, now), groups != "")
				if err != nil {
					t.Fatalf("packed: %v", err)
				}
				var gotID string
				plain, err := scanSession(sqlDB.QueryRowContext(ctx, sessionColumns(groups)+
					" FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?", id), &gotID, groups != "")
				if err != nil {
					t.Fatalf("plain: %v", err)
				}
				if gotID != id {
					t.Fatalf("plain: got ID %q, want %q", gotID, id)
				}
				for _, r := range []*loadedSession{&packed, &plain} {
					r.lastSeen = r.lastSeen.UTC()
					r.state.CreatedAt, r.state.ExpiresAt = r.state.CreatedAt.UTC(), r.state.ExpiresAt.UTC()
				}
				if !reflect.DeepEqual(packed, plain) {
					t.Errorf("packed lookup:\n got %+v\nwant %+v", packed, plain)
				}
				if name == "every column" {
					for _, v := range []reflect.Value{reflect.ValueOf(packed.state), reflect.ValueOf(*packed.state.User)} {
						for i := range v.NumField() {
							if f := v.Type().Field(i); f.IsExported() && f.Name != "ID" && !strings.HasPrefix(f.Name, "Group") && v.Field(i).IsZero() {
								t.Errorf("packed lookup: %s.%s is its zero value, want the row's", v.Type().Name(), f.Name)
							}
						}
					}
					if !packed.state.AuthAt.Equal(*rows[name].AuthAt) || !packed.state.ExpiresAt.Equal(rows[name].ExpiresAt) {
						t.Errorf("packed lookup: times %v %v, want %v %v (to the nanosecond)", packed.state.AuthAt, packed.state.ExpiresAt, rows[name].AuthAt, rows[name].ExpiresAt)
					}
				}
			}
		})
	}
}

// TestParseSQLiteTime: the direct reading of the stored format and the
// fallback agree with go-sqlite3's own parsing of a timestamp column, for
// what it writes and for every other form it reads.
func TestParseSQLiteTime(t *testing.T) {
	db := openTestDB(t)
	if models.IsPostgres(db) {
		t.Skip("SQLite's timestamps")
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	cases := []string{
		"2026-12-04 20:05:48.123456789+00:00", "2026-12-04 20:05:48.1+00:00", "2026-12-04 20:05:48+00:00",
		"2026-12-04 20:05:48.123456789+05:30", "2026-12-04 20:05:48.5-08:00", "2026-12-04 20:05:48",
		"2026-12-04 20:05:48.000000001", "2026-12-04T20:05:48.25+01:00", "2026-12-04T20:05:48Z", "2026-12-04 20:05",
		"2026-12-04", "2026-02-31 10:00:00", "2026-13-01 10:00:00", "2026-12-04 24:00:00", "2026-12-04 20:05:48.1234567891+00:00",
		"2026-12-04 20:05:48.+00:00", "2026-12-04 20:05:48+0000", "2026-12-04 20:05:48 +00:00", "garbage", "",
		"1733342748", "1733342748123", "0001-01-01 00:00:00+00:00", "9999-12-31 23:59:59.999999999+00:00",
	}
	for i := range 200 {
		tm := time.Unix(int64(i)*7919777, int64(i)*123457).In(time.FixedZone("", (i%27-13)*1800))
		cases = append(cases, tm.Format(sqlite3.SQLiteTimestampFormats[0]))
	}
	if _, err := sqlDB.Exec("CREATE TABLE times (v timestamp)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var want time.Time
		if _, err := sqlDB.Exec("DELETE FROM times"); err != nil {
			t.Fatal(err)
		}
		if n, err := strconv.ParseInt(c, 10, 64); err == nil {
			_, err = sqlDB.Exec("INSERT INTO times (v) VALUES (?)", n)
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := sqlDB.Exec("INSERT INTO times (v) VALUES (CAST(? AS TEXT))", c); err != nil {
			t.Fatal(err)
		}
		var got any
		if err := sqlDB.QueryRow("SELECT v FROM times").Scan(&got); err != nil {
			t.Fatal(err)
		}
		switch v := got.(type) {
		case time.Time:
			want = v.UTC()
		case nil:
			t.Fatalf("%q: driver read NULL", c)
		default:
			t.Fatalf("%q: driver read %T", c, got)
		}
		if got := parseSQLiteTime(c); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseSQLiteTime(%q): got %v, want %v (the driver's)", c, got, want)
		}
	}
}

// rowID is a session row ID (64 hex digits) for a test case's name.
func rowID(name string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(name))) }

// The session lookups are cached until the database changes; on PostgreSQL
// another instance's changes are known only for the tables with a notify
// trigger (models.NotifiedTables). Every statement the lookup runs, on
// either database, reads only those.
func TestCachedStatementsReadNotifiedTables(t *testing.T) {
	db := openTestDB(t)
	groups := models.GroupNamesColumn(db, "u.id")
	queries := []string{packedSessionQuery(""), packedSessionQuery(groups)}
	for _, n := range lookupBatchSizes {
		queries = append(queries, sessionsUserQuery("", n), sessionsUserQuery(groups, n))
	}
	from := regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)`)
	notified := models.NotifiedTables()
	for _, q := range queries {
		found := 0
		for _, m := range from.FindAllStringSubmatch(q, -1) {
			if strings.EqualFold(m[1], "LATERAL") {
				continue
			}
			found++
			if !slices.Contains(notified, m[1]) {
				t.Errorf("%q reads %s, which has no notify trigger (models.NotifiedTables)", q, m[1])
			}
		}
		if found == 0 {
			t.Errorf("found no table in %q", q)
		}
	}
}
