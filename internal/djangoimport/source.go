package djangoimport

// Reading a Django database's auth_user table for ImportDjango.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"gatehouse/internal/validate"
	"net/url"
	"os"
	"strings"
	"time"

	// PostgreSQL sources are read through pgx's database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// djangoUser is one auth_user row, normalised.
type djangoUser struct {
	id                             int64
	username, email, password      string
	ukey, ekey                     string
	skeletons                      []string
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
	if !IsPostgresURL(source) {
		return source
	}
	scheme, _, _ := strings.Cut(source, "://")
	u, err := url.Parse(source)
	if err != nil {
		// A URL that does not parse may still hold a password: show
		// nothing of it.
		return scheme + "://(not shown: the URL does not parse)"
	}
	// password=, sslpassword= and the like.
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "pass") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// readDjangoUsers opens source (an SQLite file path or a postgres:// URL)
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
		u.username, u.email, u.password = validate.NormalizeUsername(username.String), validate.NormalizeEmail(email.String), encoded.String
		u.ukey, u.ekey = validate.UsernameKey(u.username), validate.EmailKey(u.email)
		var errs []error
		u.isActive, errs = sqlBool(active, errs)
		u.isStaff, errs = sqlBool(staff, errs)
		u.isSuperuser, errs = sqlBool(super, errs)
		// Django's superuser without is_staff has every permission but no
		// admin; Gatehouse's superuser implies staff (as its admin sets
		// it), so one is imported with staff access rather than as a
		// superuser who cannot open /admin/.
		u.isStaff = u.isStaff || u.isSuperuser
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
