package models

import (
	"context"
	"database/sql"
	"errors"
	"gatehouse/internal/validate"
	"log/slog"
	"strings"

	"github.com/mtibben/confusables"
	"gorm.io/gorm"
)

// Look-alike and invisible usernames (issue 11, item 7). A username may not
// hold default-ignorable code points (zero-width characters, fillers such
// as U+3164 and U+115F, variation selectors): they render as nothing, so
// "admin" plus one of them looks like "admin". And two usernames whose
// Unicode TR39 confusable skeletons are equal cannot both exist: "аdmin"
// with a Cyrillic а, or "Ӏeo" with a Cyrillic palochka, collides with
// "admin" and "leo" (see UsernameSkeleton for how case is handled).

// ErrDuplicateEmail reports that another account already has the e-mail
// address (compared case-insensitively, as usernames are).
var ErrDuplicateEmail = errors.New("a user with that email address already exists")

// UserSkeleton is one look-alike identity of a user: a skeleton (see
// UsernameSkeletons) that no other account may have. The primary key is the
// rule; rows go with their user.
type UserSkeleton struct {
	Skeleton string `gorm:"primaryKey;size:600"`
	UserID   uint   `gorm:"not null;index"`
	User     *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
}

func init() { allModels = append(allModels, &UserSkeleton{}) }

// UsernameSkeletons are the look-alike identities of a username: two
// usernames that share one look alike. Each is a Unicode TR39 skeleton,
// case-folded (usernames are one account in any case) and skeletonised
// again so folded letters meet their prototypes, taken of the name as
// shown (NFKC, case kept: "Ian" looks like "lan", "rn" like "m") and of
// its upper case (so "ADMΙN" with a Greek Ι and "ӏeo" with a Cyrillic
// palochka, shown in capitals, look like "ADMIN" and "LEO"). The price is
// that names differing only by i and l collide, as I and l do in capitals.
func UsernameSkeletons(username string) []string {
	shown := validate.NormalizeUsername(username)
	view := func(s string) string {
		return confusables.Skeleton(validate.UsernameKey(confusables.Skeleton(s)))
	}
	a, b := view(shown), view(strings.ToUpper(shown))
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// AfterCreate stores the new user's skeletons in the creating transaction,
// so every way of creating a user (sign-up, admin, import) is held to the
// look-alike rule; a taken skeleton fails the insert as a duplicate.
func (u *User) AfterCreate(tx *gorm.DB) error {
	var rows []UserSkeleton
	for _, sk := range UsernameSkeletons(u.Username) {
		rows = append(rows, UserSkeleton{Skeleton: sk, UserID: u.ID})
	}
	return tx.Create(&rows).Error
}

// skeletonOwners is the IDs of the users who look like username.
func skeletonOwners(db *gorm.DB, username string) *gorm.DB {
	return db.Model(&UserSkeleton{}).Select("user_id").Where("skeleton IN ?", UsernameSkeletons(username))
}

// duplicateUserErr tells which unique rule creating a user named username
// broke: ErrDuplicateEmail only when the address was the sole conflict, so
// a name that is taken is reported as such whatever the address.
func (u *Users) duplicateUserErr(ctx context.Context, username string, err error) error {
	if !strings.Contains(UniqueIndexOf(err), "email") {
		return ErrDuplicateUsername
	}
	if taken, terr := u.UsernameTaken(ctx, username); terr == nil && taken {
		return ErrDuplicateUsername
	}
	return ErrDuplicateEmail
}

func init() {
	goMigrations[4] = goMigration{name: "fill_user_skeletons_settle_shared_emails", up: fillUserKeys}
}

// fillUserKeys is migration 00004: it stores the username skeletons of
// every existing account (table made by 00003) and settles shared e-mail
// addresses before 00005 makes them unique. Nothing is lost: when accounts
// already look alike, the oldest keeps the skeleton and the others go
// without it (they keep their usernames and log in as before; only new
// look-alikes are refused).
// When accounts share an address, the one that logged in most recently
// (then the oldest) keeps the address's key; the others keep their address
// text but an empty key, so password resets no longer reach them through
// it. Each such account is logged for the operator.
func fillUserKeys(ctx context.Context, tx *sql.Tx, d dialect, log *slog.Logger) error {
	type row struct {
		id       int64
		username string
		emailKey string
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, username, email_key FROM users ORDER BY date_joined, id")
	if err != nil {
		return err
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.username, &r.emailKey); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	owner := map[string]row{}
	insert := d.rebind("INSERT INTO user_skeletons (skeleton, user_id) VALUES (?, ?)")
	for _, r := range all {
		for _, sk := range UsernameSkeletons(r.username) {
			if first, taken := owner[sk]; taken {
				log.Warn("migration: username looks like an older account's; both kept, new look-alikes of either are refused",
					"user_id", r.id, "username", r.username, "looks_like_user_id", first.id, "looks_like", first.username)
				continue
			}
			owner[sk] = r
			if _, err := tx.ExecContext(ctx, insert, sk, r.id); err != nil {
				return err
			}
		}
	}

	// Shared addresses: every account after the first of each key, in the
	// order that decides who keeps it.
	dups, err := tx.QueryContext(ctx, `SELECT id, email_key FROM users WHERE email_key IN
		(SELECT email_key FROM users WHERE email_key <> '' GROUP BY email_key HAVING COUNT(*) > 1)
		ORDER BY email_key, CASE WHEN last_login IS NULL THEN 1 ELSE 0 END, last_login DESC, date_joined, id`)
	if err != nil {
		return err
	}
	var clear []int64
	keeper := map[string]int64{}
	for dups.Next() {
		var id int64
		var key string
		if err := dups.Scan(&id, &key); err != nil {
			dups.Close()
			return err
		}
		if k, ok := keeper[key]; ok {
			clear = append(clear, id)
			log.Warn("migration: e-mail address shared with another account; kept on this account but no longer used to find it for password resets",
				"user_id", id, "address_kept_by_user_id", k)
			continue
		}
		keeper[key] = id
	}
	dups.Close()
	if err := dups.Err(); err != nil {
		return err
	}
	clearKey := d.rebind("UPDATE users SET email_key = '' WHERE id = ?")
	for _, id := range clear {
		if _, err := tx.ExecContext(ctx, clearKey, id); err != nil {
			return err
		}
	}
	return nil
}
