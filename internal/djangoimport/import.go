package djangoimport

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
	"fmt"
	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"regexp"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Reasons a Django user is skipped, as the import report lists them.
const (
	SkipUsernameConflict  = "username conflict in Django"
	SkipLookalikeConflict = "look-alike usernames in Django"
	SkipEmailConflict     = "e-mail conflict in Django"
	SkipUsernameTaken     = "username taken in Gatehouse"
	SkipEmailTaken        = "e-mail taken in Gatehouse"
	SkipUnsupportedHash   = "unsupported password hash"
	SkipInvalidUsername   = "invalid username"
	SkipInvalidEmail      = "invalid e-mail"
)

// Options adjust ImportDjango.
type Options struct {
	// DryRun decides everything and writes nothing.
	DryRun bool
	// Progress, when set, is called after each written batch with the rows
	// handled so far and the total.
	Progress func(done, total int)
	// BatchSize is how many users one transaction inserts (default 2000).
	BatchSize int
}

// Skip is one Django user the import left out, and why.
type Skip struct {
	DjangoID int64
	Username string
	Reason   string
	// Detail names the other accounts involved, or what was wrong.
	Detail string
}

// Report is what an import did (or, dry, would do).
type Report struct {
	DryRun    bool
	Read      int
	Imported  int
	Updated   int
	Unchanged int
	Skipped   []Skip
	// Hashes counts the source's password hashes by HashAlgorithm.
	Hashes map[string]int
	// Elapsed is the wall time of the whole import.
	Elapsed time.Duration
}

// SkippedByReason counts the skipped users per reason.
func (r *Report) SkippedByReason() map[string]int {
	m := map[string]int{}
	for _, s := range r.Skipped {
		m[s.Reason]++
	}
	return m
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
func Import(ctx context.Context, db *gorm.DB, source string, opts Options) (*Report, error) {
	start := time.Now()
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	rows, err := readDjangoUsers(ctx, source)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: opts.DryRun, Read: len(rows), Hashes: map[string]int{}}
	for i := range rows {
		rep.Hashes[passhash.HashAlgorithm(rows[i].password)]++
		rows[i].skeletons = models.UsernameSkeletons(rows[i].username)
	}

	var existing []existingUser
	if err := db.WithContext(ctx).Model(&models.User{}).Find(&existing).Error; err != nil {
		return nil, models.DBError("load users", err)
	}
	var skeletons []models.UserSkeleton
	if err := db.WithContext(ctx).Find(&skeletons).Error; err != nil {
		return nil, models.DBError("load username skeletons", err)
	}
	skeletonOwner := make(map[string]uint, len(skeletons))
	for _, s := range skeletons {
		skeletonOwner[s.Skeleton] = s.UserID
	}
	byID := make(map[uint]*existingUser, len(existing))
	byUkey := make(map[string]*existingUser, len(existing))
	byEkey := make(map[string][]*existingUser)
	for i := range existing {
		e := &existing[i]
		byID[e.ID] = e
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
			rep.Skipped = append(rep.Skipped, Skip{r.id, r.username, SkipUsernameTaken,
				fmt.Sprintf("Gatehouse account %q (id %d) joined %s, not imported from this user", e.Username, e.ID, e.DateJoined.UTC().Format(time.DateOnly))})
			continue
		}
		if other := lookalikeOwner(skeletonOwner, byID, r.skeletons, e); other != nil {
			rep.Skipped = append(rep.Skipped, Skip{r.id, r.username, SkipUsernameTaken,
				fmt.Sprintf("looks like Gatehouse account %q (id %d)", other.Username, other.ID)})
			continue
		}
		if r.ekey != "" {
			if other := otherAccount(byEkey[r.ekey], e); other != nil {
				rep.Skipped = append(rep.Skipped, Skip{r.id, r.username, SkipEmailTaken,
					fmt.Sprintf("Gatehouse account %q (id %d) has that address", other.Username, other.ID)})
				continue
			}
		}
		if e == nil {
			inserts = append(inserts, importRow{r.id, models.User{
				SessionUser: models.SessionUser{Username: r.username, Email: r.email,
					IsActive: r.isActive, IsStaff: r.isStaff, IsSuperuser: r.isSuperuser},
				UsernameKey: r.ukey, EmailKey: r.ekey, Password: r.password,
				DateJoined: r.dateJoined, LastLogin: r.lastLogin,
			}, r.skeletons})
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

// decideConflicts finds the source's rows that share a username key, a
// look-alike skeleton (UsernameSkeletons) or a non-empty e-mail key with
// another row; each is skipped, naming the others.
func decideConflicts(rows []djangoUser) map[int64]Skip {
	skip := map[int64]Skip{}
	group := func(keys func(djangoUser) []string, reason, what string) {
		groups := map[string][]int{}
		for i, r := range rows {
			for _, k := range keys(r) {
				if k != "" {
					groups[k] = append(groups[k], i)
				}
			}
		}
		names := make([]string, 0, len(groups))
		for k, idx := range groups {
			if len(idx) > 1 {
				names = append(names, k)
			}
		}
		sort.Strings(names) // the same report on every run
		for _, k := range names {
			idx := groups[k]
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
				skip[rows[i].id] = Skip{rows[i].id, rows[i].username, reason, what + strings.Join(others, ", ")}
			}
		}
	}
	group(func(r djangoUser) []string { return []string{r.ukey} }, SkipUsernameConflict, "same username in another letter case as ")
	group(func(r djangoUser) []string { return r.skeletons }, SkipLookalikeConflict, "username looks like ")
	group(func(r djangoUser) []string { return []string{r.ekey} }, SkipEmailConflict, "same e-mail address as ")
	return skip
}

// lookalikeOwner is the Gatehouse account, other than self, that holds one
// of skeletons (a username that looks like this one), or nil.
func lookalikeOwner(owner map[string]uint, byID map[uint]*existingUser, skeletons []string, self *existingUser) *existingUser {
	for _, k := range skeletons {
		if id, ok := owner[k]; ok && (self == nil || id != self.ID) && byID[id] != nil {
			return byID[id]
		}
	}
	return nil
}

// checkDjangoRow refuses rows Gatehouse cannot hold or verify.
func checkDjangoRow(r djangoUser) (Skip, bool) {
	if msg := validate.ValidateUsername(r.username); msg != "" {
		return Skip{r.id, r.username, SkipInvalidUsername, msg}, true
	}
	if msg := validate.ValidateEmail(r.email); msg != "" {
		return Skip{r.id, r.username, SkipInvalidEmail, msg}, true
	}
	if err := passhash.CheckStoredHash(r.password); err != nil {
		detail := strings.TrimPrefix(err.Error(), passhash.ErrUnsupportedHash.Error()+": ")
		if passhash.HashAlgorithm(r.password) == passhash.AlgUnknownFormat {
			detail = "not a format Gatehouse verifies"
			// Django's hasher name (the part before the first '$') says
			// which one it was; it is not secret, the rest is never shown.
			if name, _, ok := strings.Cut(r.password, "$"); ok && hasherNameRE.MatchString(name) {
				detail = fmt.Sprintf("Django hasher %q is not one Gatehouse verifies", name)
			}
		}
		return Skip{r.id, r.username, SkipUnsupportedHash, detail}, true
	}
	return Skip{}, false
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

// createImported inserts users with their look-alike skeletons. It does
// in batches what User.AfterCreate does row by row (the hook is skipped: one
// INSERT per user's skeletons made 100k users several times slower); the
// skeletons' primary key still refuses look-alikes. GORM writes a column's
// default in place of a zero value (is_active false becomes the default
// true), so inactive users are set inactive again in the same transaction.
func createImported(tx *gorm.DB, rows []importRow) error {
	users := make([]models.User, len(rows))
	for i, r := range rows {
		users[i] = r.user
	}
	if err := tx.Session(&gorm.Session{SkipHooks: true}).Create(&users).Error; err != nil {
		return err
	}
	var inactive []uint
	var skeletons []models.UserSkeleton
	for i, u := range users {
		if !rows[i].user.IsActive {
			inactive = append(inactive, u.ID)
		}
		for _, sk := range rows[i].skeletons {
			skeletons = append(skeletons, models.UserSkeleton{Skeleton: sk, UserID: u.ID})
		}
	}
	if len(skeletons) > 0 {
		if err := tx.Session(&gorm.Session{SkipHooks: true}).CreateInBatches(&skeletons, 2000).Error; err != nil {
			return err
		}
	}
	if len(inactive) == 0 {
		return nil
	}
	return tx.Model(&models.User{}).Where("id IN ?", inactive).Update("is_active", false).Error
}

// importRow is a user to insert, the Django row it comes from, and the
// username's look-alike skeletons.
type importRow struct {
	djangoID  int64
	user      models.User
	skeletons []string
}

type userUpdate struct {
	id     uint
	fields map[string]any
}

// updateFor is what a re-import changes on a previously imported account.
func updateFor(e *existingUser, r djangoUser) (userUpdate, bool) {
	// The username's spelling stays Gatehouse's: its look-alike skeletons
	// were stored with it.
	f := map[string]any{}
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
	if passhash.HashAlgorithm(e.Password) != passhash.AlgArgon2id && e.Password != r.password {
		f["password"] = r.password
	}
	return userUpdate{e.ID, f}, len(f) > 0
}

// writeImport inserts and updates in batches, one transaction each.
func writeImport(ctx context.Context, db *gorm.DB, rep *Report, inserts []importRow, updates []userUpdate, opts Options) error {
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
		err := db.Transaction(func(tx *gorm.DB) error { return createImported(tx, rows) })
		switch {
		case err == nil:
			rep.Imported += n
		case models.IsUniqueViolation(err):
			// Someone took a name or an address since the import looked:
			// insert one by one and report the losers.
			for _, r := range rows {
				err := db.Transaction(func(tx *gorm.DB) error { return createImported(tx, []importRow{r}) })
				switch {
				case err == nil:
					rep.Imported++
				case models.IsUniqueViolation(err):
					rep.Skipped = append(rep.Skipped, Skip{r.djangoID, r.user.Username, SkipUsernameTaken,
						"a Gatehouse account with this username or e-mail address was created during the import"})
				default:
					return models.DBError("import users", err)
				}
			}
		default:
			return models.DBError("import users", err)
		}
		progress(n)
	}
	for len(updates) > 0 {
		n := min(opts.BatchSize, len(updates))
		batch := updates[:n]
		updates = updates[n:]
		err := db.Transaction(func(tx *gorm.DB) error {
			for _, up := range batch {
				if err := tx.Model(&models.User{}).Where("id = ?", up.id).Updates(up.fields).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return models.DBError("update imported users", err)
		}
		rep.Updated += n
		progress(n)
	}
	return nil
}
