package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"gatehouse/internal/passhash"
	"gatehouse/internal/validate"
	"time"

	"gorm.io/gorm"
)

// Sentinel errors of user operations.
var (
	ErrDuplicateUsername  = errors.New("a user with that username already exists")
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrAccountInactive is a right password (or a completed second step)
	// for a deactivated account: said only after the password proved the
	// person knows it, so it reveals nothing to a guesser (django-allauth's
	// account_inactive).
	ErrAccountInactive = errors.New("this account is inactive")
)

// User is an account, shaped like Django's auth.User: the whole row. What
// request handling needs of it is its SessionUser, the part the session
// lookup reads on every request; the rest (the password hash, the keys,
// the dates) a flow that needs it reads from the row itself, so no code
// can mistake a field the lookup left out for a real (empty) value.
type User struct {
	SessionUser
	// UsernameKey is Username's case fold; it carries the unique index, so
	// "Alice" and "alice" cannot both exist.
	UsernameKey string `gorm:"size:600;not null;uniqueIndex"`
	// EmailKey is unique where not empty (idx_users_email_key_unique); ""
	// is no address, or one shared before addresses were unique.
	EmailKey string `gorm:"size:1016;not null;default:'';index"`
	// Password is an argon2id PHC string, never the password itself.
	Password   string     `gorm:"size:255;not null"`
	DateJoined time.Time  `gorm:"not null;index"`
	LastLogin  *time.Time `gorm:"index"`
}

// SessionUser is the part of a user that request handling needs: who the
// user is, what they may do, how pages are shown to them. The session
// lookup reads exactly these columns on every signed-in request
// (internal/websession), and handlers see the signed-in user as a
// *SessionUser. A User embeds it, so &u.SessionUser is a full row's.
type SessionUser struct {
	ID uint `gorm:"primaryKey"`
	// Username is stored NFKC-normalised (User.UsernameKey is unique).
	Username    string `gorm:"size:150;not null"`
	Email       string `gorm:"size:254;not null;default:''"`
	IsActive    bool   `gorm:"not null;default:true;index"`
	IsStaff     bool   `gorm:"not null;default:false;index"`
	IsSuperuser bool   `gorm:"not null;default:false;index"`
	// EmailVerified is set once the owner has confirmed the address by a
	// mailed link (or staff or a command vouched for it).
	EmailVerified bool `gorm:"not null;default:false"`
	// Language is the interface language the user chose (a code of
	// locale.Languages), "" when they never chose: Accept-Language decides.
	Language string `gorm:"size:16;not null;default:''"`
	// TimeZone is the IANA zone dates are shown in, "" for UTC.
	TimeZone string `gorm:"size:64;not null;default:''"`
}

// AnyUser is a *User or a *SessionUser: what code that needs only the
// session's part of a user (its ID, name, rights) accepts, so it serves
// the signed-in user and a row read in a transaction alike.
type AnyUser interface {
	SessionPart() *SessionUser
}

// SessionPart returns u itself (a User's embedded SessionUser).
func (u *SessionUser) SessionPart() *SessionUser { return u }

// NewUser describes an account to create.
type NewUser struct {
	Username    string
	Email       string
	Password    string
	IsStaff     bool
	IsSuperuser bool
	// SkipPasswordValidation keeps only the rules no account may break
	// (clean text, at most PasswordMaxLen): createsuperuser's "Bypass
	// password validation", which Django offers on a terminal.
	SkipPasswordValidation bool
}

// Users holds the user operations and what they depend on.
type Users struct {
	db     *gorm.DB
	hasher *passhash.Hasher
	// dates reads a user's two dates (Dates), prepared on first use.
	dates *Prepared
}

// NewUsers returns the user operations over db, hashing with hasher.
func NewUsers(db *gorm.DB, hasher *passhash.Hasher) *Users {
	return &Users{db: db, hasher: hasher, dates: NewPrepared(db, func(*gorm.DB) string {
		return "SELECT date_joined, last_login FROM users WHERE id = ?"
	})}
}

// DB is the database the users live in.
func (u *Users) DB() *gorm.DB { return u.db }

// Hasher returns the password hasher the users are checked with.
func (u *Users) Hasher() *passhash.Hasher { return u.hasher }

// Create validates nu and stores a new active user, recording no event:
// for seeding and tests. The app's flows create users through Accounts
// (Signup, AdminCreate, CreateByCommand), which record who did it.
func (u *Users) Create(ctx context.Context, nu NewUser) (*User, error) {
	user, err := PrepareUser(ctx, u.hasher, nu)
	if err != nil {
		return nil, err
	}
	// One transaction: the user row and its look-alike skeletons
	// (User.AfterCreate) are stored together or not at all.
	err = u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return tx.Create(user).Error })
	if err != nil {
		if IsUniqueViolation(err) {
			return nil, u.duplicateUserErr(ctx, user.Username, err)
		}
		return nil, dbErr("create user", err)
	}
	return user, nil
}

// PrepareUser validates nu and hashes its password: the work before the
// insert. A username taken in any letter case is left to the unique index.
// Validation failures come back as a *ValidationError on username, email
// and password.
func PrepareUser(ctx context.Context, hasher *passhash.Hasher, nu NewUser) (*User, error) {
	username := validate.NormalizeUsername(nu.Username)
	email := validate.NormalizeEmail(nu.Email)
	verr := NewValidationError()
	if msg := validate.ValidateUsername(username); msg != "" {
		verr.Add("username", msg)
	}
	if msg := validate.ValidateEmail(email); msg != "" {
		verr.Add("email", msg)
	}
	passwordProblems := validate.ValidatePassword(nu.Password, username, email)
	if nu.SkipPasswordValidation {
		passwordProblems = validate.HardPasswordProblems(nu.Password)
	}
	for _, msg := range passwordProblems {
		verr.Add("password", msg)
	}
	if err := verr.OrNil(); err != nil {
		return nil, err
	}
	hash, err := hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	return &User{
		SessionUser: SessionUser{
			Username:    username,
			Email:       email,
			IsActive:    true,
			IsStaff:     nu.IsStaff || nu.IsSuperuser,
			IsSuperuser: nu.IsSuperuser,
			// Accounts made by staff, commands or seeding are vouched
			// for; Signup clears this when addresses are verified.
			EmailVerified: true,
		},
		UsernameKey: validate.UsernameKey(username),
		EmailKey:    validate.EmailKey(email),
		Password:    hash,
		DateJoined:  time.Now().UTC(),
	}, nil
}

// UsernameTaken reports whether an account with that username, in any letter
// case, or one that looks like it (the same skeleton), exists.
func (u *Users) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var n int64
	err := u.db.WithContext(ctx).Model(&User{}).
		Where("username_key = ? OR id IN (?)", validate.UsernameKey(username), skeletonOwners(u.db, username)).Limit(1).Count(&n).Error
	if err != nil {
		return false, dbErr("check username", err)
	}
	return n > 0, nil
}

// ByID returns the user with that ID, or ErrNotFound.
func (u *Users) ByID(ctx context.Context, id uint) (*User, error) {
	var user User
	if err := u.db.WithContext(ctx).Take(&user, id).Error; err != nil {
		return nil, dbErr("load user", err)
	}
	return &user, nil
}

// Dates returns when the user with that ID joined and last signed in (nil:
// never), or ErrNotFound: the dates the account hub shows, which the
// session's user (SessionUser) does not carry. One prepared statement, no
// GORM: the hub is a page people open often.
func (u *Users) Dates(ctx context.Context, id uint) (joined time.Time, last *time.Time, err error) {
	stmt, err := u.dates.Stmt(context.WithoutCancel(ctx))
	if err != nil {
		return joined, nil, dbErr("load user dates", err)
	}
	var l sql.NullTime
	if err := stmt.QueryRowContext(ctx, id).Scan(&joined, &l); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return joined, nil, ErrNotFound
		}
		return joined, nil, dbErr("load user dates", err)
	}
	if l.Valid {
		t := l.Time.UTC()
		last = &t
	}
	return joined.UTC(), last, nil
}

// ByUsername returns the user with that username in any letter case, or
// ErrNotFound.
func (u *Users) ByUsername(ctx context.Context, username string) (*User, error) {
	var user User
	if err := u.db.WithContext(ctx).Where("username_key = ?", validate.UsernameKey(username)).Take(&user).Error; err != nil {
		return nil, dbErr("load user", err)
	}
	return &user, nil
}

// ActiveByEmail returns the active users whose address matches email
// case-insensitively (by EmailKey), as Django's PasswordResetForm does. Mail
// goes to each user's stored address, never to the typed variant.
func (u *Users) ActiveByEmail(ctx context.Context, email string) ([]User, error) {
	key := validate.EmailKey(email)
	if key == "" {
		return nil, nil
	}
	var users []User
	err := u.db.WithContext(ctx).Where("email_key = ? AND is_active = ?", key, true).Limit(20).Find(&users).Error
	return users, dbErr("find users by email", err)
}

// ValidationError carries per-field messages from a model operation.
type ValidationError struct {
	Fields map[string][]string
}

func (e *ValidationError) Add(field, msg string) {
	e.Fields[field] = append(e.Fields[field], msg)
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid input: %v", e.Fields)
}

func (e *ValidationError) OrNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// RefreshLegacyDummy sets the hasher's legacy dummy (SetLegacyDummy) from
// the users table: one stored hash of the most common legacy (Django)
// algorithm and parameters (passhash.PickLegacyDummy), so an unknown
// username costs what a typical imported user's wrong password costs; none
// when no legacy hash is left. It reads the hashes only (milliseconds for
// 100,000 users) and runs at start and with the background sweeps, so a
// server notices an import.
func RefreshLegacyDummy(ctx context.Context, db *gorm.DB, h *passhash.Hasher) (int64, error) {
	var hashes []string
	err := legacyHashes(db.WithContext(ctx)).Pluck("password", &hashes).Error
	if err != nil {
		return 0, dbErr("read legacy hashes", err)
	}
	h.SetLegacyDummy(passhash.PickLegacyDummy(hashes))
	return int64(len(hashes)), nil
}

// legacyHashes selects the users whose password is a legacy hash, at most
// 100,000: through the partial index idx_users_legacy_hash (migration
// 00095), whose condition is legacyHashSQL, so it reads those users only,
// not the whole table.
func legacyHashes(db *gorm.DB) *gorm.DB {
	return db.Model(&User{}).Where(legacyHashSQL).Limit(100_000)
}

// NewValidationError returns an empty ValidationError to add messages to.
func NewValidationError() *ValidationError { return &ValidationError{Fields: map[string][]string{}} }

// SetLanguage saves the user's interface language (a code the caller has
// checked against locale.Languages; "" forgets the choice).
func (u *Users) SetLanguage(ctx context.Context, id uint, code string) error {
	if err := u.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("language", code).Error; err != nil {
		return dbErr("set language", err)
	}
	return nil
}

// SetTimeZone saves the IANA time zone the user's dates are shown in (a
// name the caller has checked; "" is UTC).
func (u *Users) SetTimeZone(ctx context.Context, id uint, zone string) error {
	if err := u.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("time_zone", zone).Error; err != nil {
		return dbErr("set time zone", err)
	}
	return nil
}
