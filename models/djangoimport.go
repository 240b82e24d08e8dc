package models

// Importing users from a Django site's auth_user table (the importdjango
// command). The flow:
//
//  1. Read every auth_user row from the source (SQLite file, read-only, or
//     PostgreSQL) in one query.
//  2. Decide each row's fate before writing anything, by these rules:
//     - Conflicts inside the source are skipped, never merged: every row
//       whose username equals another's by UsernameKey (Django allows
//       "Alice" and "alice"), and every row whose non-empty e-mail equals
//       another's by EmailKey, is skipped and reported — all rows involved,
//       not all but one, because the importer cannot know which account the
//       person behind the other one would expect to keep.
//     - A password hash Gatehouse cannot verify (CheckStoredHash), a username
//       Gatehouse's validator refuses, or an e-mail address it refuses, is
//       skipped and reported.
//     - A Gatehouse account with the same UsernameKey is "the same user,
//       imported before" when its date_joined equals Django's to the
//       microsecond (an import copies it); it is then updated: e-mail,
//       is_active, is_staff, is_superuser and username spelling from Django,
//       last_login when Django's is later, and the password hash only while
//       Gatehouse still holds a Django-format hash — once Gatehouse has its
//       own argon2id hash (the user signed in, or changed or reset the
//       password there) Gatehouse's wins and the older Django hash is never
//       written over it. Any other Gatehouse account with that username, or
//       with that e-mail key, is a clash: the row is skipped and reported.
//  3. Write: new users in batches, each batch one transaction, so 100k users
//     take seconds; a re-run finds the imported rows by step 2's rule and
//     never duplicates them. A unique-index failure inside a batch (someone
//     signed up meanwhile) retries that batch row by row and reports the
//     losers as clashes.
//
// Hashes are copied as they are; the hasher chain verifies them and the
// first successful login stores argon2id. Nothing here logs or prints a hash.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	// PostgreSQL sources are read through pgx's database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// Reasons a Django user is skipped, as the import report lists them.
const (
	SkipUsernameConflict = "username conflict in Django"
	SkipEmailConflict    = "e-mail conflict in Django"
	SkipUsernameTaken    = "username taken in Gatehouse"
	SkipEmailTaken       = "e-mail taken in Gatehouse"
	SkipUnsupportedHash  = "unsupported password hash"
	SkipInvalidUsername  = "invalid username"
	SkipInvalidEmail     = "invalid e-mail"
)

// DjangoImportOptions adjust ImportDjango.
type DjangoImportOptions struct {
	// DryRun decides everything and writes nothing.
	DryRun bool
	// Progress, when set, is called after each written batch with the rows
	// handled so far and the total.
	Progress func(done, total int)
	// BatchSize is how many users one transaction inserts (default 500).
	BatchSize int
}

// DjangoSkip is one Django user the import left out, and why.
type DjangoSkip struct {
	DjangoID int64
	Username string
	Reason   string
	// Detail names the other accounts involved, or what was wrong.
	Detail string
}

// DjangoImportReport is what an import did (or, dry, would do).
type DjangoImportReport struct {
	DryRun    bool
	Read      int
	Imported  int
	Updated   int
	Unchanged int
	Skipped   []DjangoSkip
	// Hashes counts the source's password hashes by HashAlgorithm.
	Hashes map[string]int
	// Elapsed is the wall time of the whole import.
	Elapsed time.Duration
}

// SkippedByReason counts the skipped users per reason.
func (r *DjangoImportReport) SkippedByReason() map[string]int {
	m := map[string]int{}
	for _, s := range r.Skipped {
		m[s.Reason]++
	}
	return m
}

// djangoUser is one auth_user row, normalised.
type djangoUser struct {
	id                             int64
	username, email, password      string
	ukey, ekey                     string
	isActive, isStaff, isSuperuser bool
	dateJoined                     time.Time
	lastLogin                      *time.Time
}

// IsPostgresURL reports whether s names a PostgreSQL database.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactSource is source fit to print: a URL's password hidden.
func RedactSource(source string) string {
	if u, err := url.Parse(source); err == nil && IsPostgresURL(source) {
		return u.Redacted()
	}
	return source
}

// ReadDjangoUsers opens source (an SQLite file path or a postgres:// URL)
// and reads its auth_user table.
func readDjangoUsers(ctx context.Context, source string) ([]djangoUser, error) {
	driver, dsn := "pgx", source
	if !IsPostgresURL(source) {
		path := strings.TrimPrefix(source, "sqlite:")
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("django database: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("django database: %s is a directory", path)
		}
		// Read-only: the import never writes to the source (and never
		// creates it). The path is an SQLite URI filename: escape '%', '#'
		// and '?'.
		driver = "sqlite3"
		dsn = "file:" + strings.NewReplacer("%", "%25", "#", "%23", "?", "%3f").Replace(path) + "?mode=ro&_busy_timeout=5000"
	}
	src, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("django database: %w", err)
	}
	defer src.Close()
	rows, err := src.QueryContext(ctx, `SELECT id, username, email, password, is_active, is_staff,
		is_superuser, date_joined, last_login FROM auth_user ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("django database: read auth_user: %w", err)
	}
	defer rows.Close()
	var out []djangoUser
	for rows.Next() {
		var (
			u                        djangoUser
			active, staff, super     any
			joined, last             any
			username, email, encoded sql.NullString
		)
		if err := rows.Scan(&u.id, &username, &email, &encoded, &active, &staff, &super, &joined, &last); err != nil {
			return nil, fmt.Errorf("django database: read auth_user: %w", err)
		}
		u.username, u.email, u.password = NormalizeUsername(username.String), NormalizeEmail(email.String), encoded.String
		u.ukey, u.ekey = UsernameKey(u.username), EmailKey(u.email)
		var errs []error
		u.isActive, errs = sqlBool(active, errs)
		u.isStaff, errs = sqlBool(staff, errs)
		u.isSuperuser, errs = sqlBool(super, errs)
		t, errs := sqlTime(joined, errs)
		if t == nil {
			errs = append(errs, errors.New("date_joined is NULL"))
		} else {
			u.dateJoined = *t
		}
		u.lastLogin, errs = sqlTime(last, errs)
		if len(errs) > 0 {
			return nil, fmt.Errorf("django database: auth_user id %d: %w", u.id, errors.Join(errs...))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("django database: read auth_user: %w", err)
	}
	return out, nil
}

func sqlBool(v any, errs []error) (bool, []error) {
	switch b := v.(type) {
	case bool:
		return b, errs
	case int64:
		return b != 0, errs
	case []byte:
		return string(b) == "1" || string(b) == "t" || string(b) == "true", errs
	case string:
		return b == "1" || b == "t" || b == "true", errs
	}
	return false, append(errs, fmt.Errorf("not a boolean: %T", v))
}

// djangoTimeLayouts are how Django's SQLite backend writes datetimes (UTC
// when USE_TZ is on, which is Django's default; naive times are read as
// UTC) when the driver does not already hand back a time.Time.
var djangoTimeLayouts = []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"}

func sqlTime(v any, errs []error) (*time.Time, []error) {
	var s string
	switch t := v.(type) {
	case nil:
		return nil, errs
	case time.Time:
		u := t.UTC()
		return &u, errs
	case []byte:
		s = string(t)
	case string:
		s = t
	default:
		return nil, append(errs, fmt.Errorf("not a time: %T", v))
	}
	for _, layout := range djangoTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			u := t.UTC()
			return &u, errs
		}
	}
	return nil, append(errs, fmt.Errorf("unreadable time %q", s))
}

// existingUser is what the import needs of a Gatehouse account.
type existingUser struct {
	ID          uint
	Username    string
	UsernameKey string
	Email       string
	EmailKey    string
	Password    string
	IsActive    bool
	IsStaff     bool
	IsSuperuser bool
	DateJoined  time.Time
	LastLogin   *time.Time
}

// ImportDjango imports the users of the Django database source into db by
// the rules at the top of this file and reports what it did. An error means
// the source could not be read or a write failed (batches written before
// stay; a re-run picks up where it stopped).
func ImportDjango(ctx context.Context, db *gorm.DB, source string, opts DjangoImportOptions) (*DjangoImportReport, error) {
	start := time.Now()
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	rows, err := readDjangoUsers(ctx, source)
	if err != nil {
		return nil, err
	}
	rep := &DjangoImportReport{DryRun: opts.DryRun, Read: len(rows), Hashes: map[string]int{}}
	for _, r := range rows {
		rep.Hashes[HashAlgorithm(r.password)]++
	}

	var existing []existingUser
	if err := db.WithContext(ctx).Model(&User{}).Find(&existing).Error; err != nil {
		return nil, dbErr("load users", err)
	}
	byUkey := make(map[string]*existingUser, len(existing))
	byEkey := make(map[string][]*existingUser)
	for i := range existing {
		e := &existing[i]
		byUkey[e.UsernameKey] = e
		if e.EmailKey != "" {
			byEkey[e.EmailKey] = append(byEkey[e.EmailKey], e)
		}
	}

	skip := decideConflicts(rows)
	var inserts []importRow
	var updates []userUpdate
	for _, r := range rows {
		if s, ok := skip[r.id]; ok {
			rep.Skipped = append(rep.Skipped, s)
			continue
		}
		if s, bad := checkDjangoRow(r); bad {
			rep.Skipped = append(rep.Skipped, s)
			continue
		}
		e := byUkey[r.ukey]
		if e != nil && !sameInstant(e.DateJoined, r.dateJoined) {
			rep.Skipped = append(rep.Skipped, DjangoSkip{r.id, r.username, SkipUsernameTaken,
				fmt.Sprintf("Gatehouse account %q (id %d) joined %s, not imported from this user", e.Username, e.ID, e.DateJoined.UTC().Format(time.DateOnly))})
			continue
		}
		if r.ekey != "" {
			if other := otherAccount(byEkey[r.ekey], e); other != nil {
				rep.Skipped = append(rep.Skipped, DjangoSkip{r.id, r.username, SkipEmailTaken,
					fmt.Sprintf("Gatehouse account %q (id %d) has that address", other.Username, other.ID)})
				continue
			}
		}
		if e == nil {
			inserts = append(inserts, importRow{r.id, User{
				Username: r.username, UsernameKey: r.ukey, Email: r.email, EmailKey: r.ekey,
				Password: r.password, IsActive: r.isActive, IsStaff: r.isStaff, IsSuperuser: r.isSuperuser,
				DateJoined: r.dateJoined, LastLogin: r.lastLogin,
			}})
			continue
		}
		if up, changed := updateFor(e, r); changed {
			updates = append(updates, up)
		} else {
			rep.Unchanged++
		}
	}
	sort.Slice(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].DjangoID < rep.Skipped[j].DjangoID })
	if opts.DryRun {
		rep.Imported, rep.Updated = len(inserts), len(updates)
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	if err := writeImport(ctx, db, rep, inserts, updates, opts); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// decideConflicts finds the source's rows that share a username key or a
// non-empty e-mail key with another row; each is skipped, naming the others.
func decideConflicts(rows []djangoUser) map[int64]DjangoSkip {
	skip := map[int64]DjangoSkip{}
	group := func(key func(djangoUser) string, reason string) {
		groups := map[string][]int{}
		for i, r := range rows {
			if k := key(r); k != "" {
				groups[k] = append(groups[k], i)
			}
		}
		for _, idx := range groups {
			if len(idx) < 2 {
				continue
			}
			for _, i := range idx {
				if _, done := skip[rows[i].id]; done {
					continue
				}
				var others []string
				for _, j := range idx {
					if j != i {
						others = append(others, fmt.Sprintf("%q (id %d)", rows[j].username, rows[j].id))
					}
				}
				what := "same username in another letter case as "
				if reason == SkipEmailConflict {
					what = "same e-mail address as "
				}
				skip[rows[i].id] = DjangoSkip{rows[i].id, rows[i].username, reason, what + strings.Join(others, ", ")}
			}
		}
	}
	group(func(r djangoUser) string { return r.ukey }, SkipUsernameConflict)
	group(func(r djangoUser) string { return r.ekey }, SkipEmailConflict)
	return skip
}

// checkDjangoRow refuses rows Gatehouse cannot hold or verify.
func checkDjangoRow(r djangoUser) (DjangoSkip, bool) {
	if msg := ValidateUsername(r.username); msg != "" {
		return DjangoSkip{r.id, r.username, SkipInvalidUsername, msg}, true
	}
	if msg := ValidateEmail(r.email); msg != "" {
		return DjangoSkip{r.id, r.username, SkipInvalidEmail, msg}, true
	}
	if err := CheckStoredHash(r.password); err != nil {
		detail := strings.TrimPrefix(err.Error(), ErrUnsupportedHash.Error()+": ")
		if HashAlgorithm(r.password) == AlgUnknownFormat {
			detail = "not a format Gatehouse verifies"
			// Django's hasher name (the part before the first '$') says
			// which one it was; it is not secret, the rest is never shown.
			if name, _, ok := strings.Cut(r.password, "$"); ok && hasherNameRE.MatchString(name) {
				detail = fmt.Sprintf("Django hasher %q is not one Gatehouse verifies", name)
			}
		}
		return DjangoSkip{r.id, r.username, SkipUnsupportedHash, detail}, true
	}
	return DjangoSkip{}, false
}

var hasherNameRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func sameInstant(a, b time.Time) bool {
	return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
}

// otherAccount is the first of accounts that is not self.
func otherAccount(accounts []*existingUser, self *existingUser) *existingUser {
	for _, a := range accounts {
		if a != self {
			return a
		}
	}
	return nil
}

// createImported inserts users. GORM writes a column's default in place of
// a zero value (is_active false becomes the default true), so inactive
// users are set inactive again in the same transaction.
func createImported(tx *gorm.DB, users []User) error {
	var inactive []uint
	wasInactive := make([]bool, len(users))
	for i, u := range users {
		wasInactive[i] = !u.IsActive
	}
	if err := tx.Create(&users).Error; err != nil {
		return err
	}
	for i, u := range users {
		if wasInactive[i] {
			inactive = append(inactive, u.ID)
		}
	}
	if len(inactive) == 0 {
		return nil
	}
	return tx.Model(&User{}).Where("id IN ?", inactive).Update("is_active", false).Error
}

// importRow is a user to insert and the Django row it comes from.
type importRow struct {
	djangoID int64
	user     User
}

type userUpdate struct {
	id     uint
	fields map[string]any
}

// updateFor is what a re-import changes on a previously imported account.
func updateFor(e *existingUser, r djangoUser) (userUpdate, bool) {
	f := map[string]any{}
	if e.Username != r.username {
		f["username"] = r.username
	}
	if e.Email != r.email {
		f["email"], f["email_key"] = r.email, r.ekey
	}
	if e.IsActive != r.isActive {
		f["is_active"] = r.isActive
	}
	if e.IsStaff != r.isStaff {
		f["is_staff"] = r.isStaff
	}
	if e.IsSuperuser != r.isSuperuser {
		f["is_superuser"] = r.isSuperuser
	}
	if r.lastLogin != nil && (e.LastLogin == nil || r.lastLogin.After(*e.LastLogin)) {
		f["last_login"] = *r.lastLogin
	}
	// Gatehouse's own hash (the user signed in, changed or reset the
	// password here) is never replaced by Django's.
	if HashAlgorithm(e.Password) != AlgArgon2id && e.Password != r.password {
		f["password"] = r.password
	}
	return userUpdate{e.ID, f}, len(f) > 0
}

// writeImport inserts and updates in batches, one transaction each.
func writeImport(ctx context.Context, db *gorm.DB, rep *DjangoImportReport, inserts []importRow, updates []userUpdate, opts DjangoImportOptions) error {
	db = db.WithContext(ctx)
	total := len(inserts) + len(updates)
	done := 0
	progress := func(n int) {
		done += n
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	for len(inserts) > 0 {
		n := min(opts.BatchSize, len(inserts))
		rows := inserts[:n]
		inserts = inserts[n:]
		batch := make([]User, n)
		for i, r := range rows {
			batch[i] = r.user
		}
		err := db.Transaction(func(tx *gorm.DB) error { return createImported(tx, batch) })
		switch {
		case err == nil:
			rep.Imported += n
		case isUniqueViolation(err):
			// Someone took a name or an address since the import looked:
			// insert one by one and report the losers.
			for _, r := range rows {
				err := db.Transaction(func(tx *gorm.DB) error { return createImported(tx, []User{r.user}) })
				switch {
				case err == nil:
					rep.Imported++
				case isUniqueViolation(err):
					rep.Skipped = append(rep.Skipped, DjangoSkip{r.djangoID, r.user.Username, SkipUsernameTaken,
						"a Gatehouse account with this username or e-mail address was created during the import"})
				default:
					return dbErr("import users", err)
				}
			}
		default:
			return dbErr("import users", err)
		}
		progress(n)
	}
	for len(updates) > 0 {
		n := min(opts.BatchSize, len(updates))
		batch := updates[:n]
		updates = updates[n:]
		err := db.Transaction(func(tx *gorm.DB) error {
			for _, up := range batch {
				if err := tx.Model(&User{}).Where("id = ?", up.id).Updates(up.fields).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return dbErr("update imported users", err)
		}
		rep.Updated += n
		progress(n)
	}
	return nil
}
