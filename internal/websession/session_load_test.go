package websession

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
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

// TestTimeFieldsMatchSchema: SQLite's lookup reads every column but the
// timestamps through an expression with no declared type, so the driver
// parses only the columns timeFields names as times; a timestamp missing
// from it (or a non-timestamp in it) would break every signed-in request.
func TestTimeFieldsMatchSchema(t *testing.T) {
	tables := map[string]*schema.Schema{}
	for prefix, model := range map[string]any{"s.": &models.Session{}, "u.": &models.User{}} {
		s, err := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		tables[prefix] = s
	}
	timeType := reflect.TypeFor[time.Time]()
	for _, f := range sessionFields {
		field := tables[f[:2]].LookUpField(f[2:])
		if field == nil {
			t.Errorf("%s: no such column in the model", f)
			continue
		}
		typ := field.FieldType
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if isTime := typ == timeType; isTime != timeFields[f] {
			t.Errorf("%s: a timestamp %v, in timeFields %v", f, isTime, timeFields[f])
		}
	}
}
