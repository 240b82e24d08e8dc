package models

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/internal/validate"
)

// Group is a named set of users, like Django's auth_group: access rules
// (forward auth) name groups, and the OpenID provider's groups claim lists
// them. A name is case-sensitive, at most GroupNameMaxLen characters, and
// holds no comma (Remote-Groups is a comma-separated list).
type Group struct {
	ID        uint      `gorm:"primaryKey"`
	Name      string    `gorm:"size:150;not null;uniqueIndex:idx_groups_name"`
	CreatedAt time.Time `gorm:"not null"`
}

// UserGroup is one membership (Django's auth_user_groups).
type UserGroup struct {
	UserID  uint   `gorm:"primaryKey;autoIncrement:false"`
	User    *User  `gorm:"constraint:OnDelete:CASCADE" json:"-"`
	GroupID uint   `gorm:"primaryKey;autoIncrement:false;index:idx_user_groups_group"`
	Group   *Group `gorm:"constraint:OnDelete:CASCADE" json:"-"`
}

func init() { allModels = append(allModels, &Group{}, &UserGroup{}) }

// GroupNameMaxLen is Django's auth_group.name length.
const GroupNameMaxLen = 150

// ValidateGroupName returns why name cannot name a group, or "".
func ValidateGroupName(name string) string {
	switch {
	case name == "":
		return "Enter a group name."
	case len(name) > 4*GroupNameMaxLen || utf8.RuneCountInString(name) > GroupNameMaxLen:
		return "A group name has at most 150 characters."
	case strings.TrimSpace(name) != name:
		return "A group name cannot start or end with a space."
	case strings.ContainsAny(name, ",\"\\"):
		return "A group name cannot contain a comma, a quote or a backslash."
	case strings.ContainsFunc(name, validate.IsDefaultIgnorable):
		return "A group name cannot contain invisible characters."
	}
	if msg := validate.CleanText(name); msg != "" {
		return msg
	}
	return ""
}

// GroupInfo is a group with its member count.
type GroupInfo struct {
	Group
	Members int64
}

// Groups are the queries on groups and memberships.
type Groups struct {
	db *gorm.DB
	// names is NamesOf's statement, prepared on first use and kept: make
	// one Groups per database and share it.
	names *Prepared
}

// NewGroups returns the group queries over db.
func NewGroups(db *gorm.DB) *Groups {
	return &Groups{db: db, names: NewPrepared(db, func(*gorm.DB) string { return namesQuery })}
}

// List returns every group by name, with its member count.
func (g *Groups) List(ctx context.Context) ([]GroupInfo, error) {
	var out []GroupInfo
	err := g.db.WithContext(ctx).Model(&Group{}).
		Select("groups.*, (SELECT COUNT(*) FROM user_groups ug WHERE ug.group_id = groups.id) AS members").
		Order("name").Scan(&out).Error
	return out, dbErr("list groups", err)
}

// ByName returns the group called name (ErrNotFound when there is none).
func (g *Groups) ByName(ctx context.Context, name string) (*Group, error) {
	return GroupByName(g.db.WithContext(ctx), name)
}

// GroupByName reads the group called name inside tx.
func GroupByName(tx *gorm.DB, name string) (*Group, error) {
	var gr Group
	err := tx.Where("name = ?", name).Take(&gr).Error
	if err == gorm.ErrRecordNotFound {
		return nil, ErrNotFound
	}
	return &gr, dbErr("read group", err)
}

// namesQuery is NamesOf's statement.
const namesQuery = "SELECT g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = ? ORDER BY g.name"

// GroupNamesColumn is a subquery giving the names of the groups of the
// user whose ID is userID (an SQL expression), sorted as NamesOf sorts
// them and joined by commas (no group name holds one), or NULL for none:
// the session lookup reads them in its own statement.
func GroupNamesColumn(db *gorm.DB, userID string) string {
	agg := "group_concat(g.name, ',' ORDER BY g.name)"
	if dialectOf(db) == dialectPostgres {
		agg = "string_agg(g.name, ',' ORDER BY g.name)"
	}
	return "(SELECT " + agg + " FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = " + userID + ")"
}

// NamesOf returns the names of userID's groups, sorted.
func (g *Groups) NamesOf(ctx context.Context, userID uint) ([]string, error) {
	stmt, err := g.names.Stmt(context.WithoutCancel(ctx))
	if err != nil {
		return nil, dbErr("read groups", err)
	}
	rows, err := stmt.QueryContext(ctx, userID)
	if err != nil {
		return nil, dbErr("read groups", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, dbErr("read groups", err)
		}
		names = append(names, n)
	}
	return names, dbErr("read groups", rows.Err())
}

// GroupNamesOf returns the names of userID's groups, sorted, inside tx.
func GroupNamesOf(tx *gorm.DB, userID uint) ([]string, error) {
	var names []string
	err := tx.Model(&Group{}).Joins("JOIN user_groups ug ON ug.group_id = groups.id").
		Where("ug.user_id = ?", userID).Order("groups.name").Pluck("groups.name", &names).Error
	if err != nil {
		return nil, dbErr("read groups", err)
	}
	return names, nil
}

// Members returns the usernames of a group's members, sorted.
func (g *Groups) Members(ctx context.Context, groupID uint) ([]string, error) {
	var names []string
	err := g.db.WithContext(ctx).Model(&User{}).Joins("JOIN user_groups ug ON ug.user_id = users.id").
		Where("ug.group_id = ?", groupID).Order("users.username").Pluck("users.username", &names).Error
	return names, dbErr("read members", err)
}

// EnsureGroup returns the group called name inside tx, creating it when it
// does not exist (created reports which). The name must be valid.
func EnsureGroup(tx *gorm.DB, name string) (gr *Group, created bool, err error) {
	gr = &Group{Name: name, CreatedAt: time.Now().UTC()}
	res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoNothing: true}).Create(gr)
	if res.Error != nil {
		return nil, false, res.Error
	}
	if res.RowsAffected == 1 {
		return gr, true, nil
	}
	gr, err = GroupByName(tx, name)
	return gr, false, err
}

// AddMembers puts userIDs in groupID inside tx (members already in it stay)
// and returns how many joined.
func AddMembers(tx *gorm.DB, groupID uint, userIDs []uint) (int64, error) {
	if len(userIDs) == 0 {
		return 0, nil
	}
	rows := make([]UserGroup, 0, len(userIDs))
	for _, id := range slices.Compact(slices.Sorted(slices.Values(userIDs))) {
		rows = append(rows, UserGroup{UserID: id, GroupID: groupID})
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
	return res.RowsAffected, res.Error
}

// RemoveMembers takes userIDs out of groupID inside tx and returns how many
// left.
func RemoveMembers(tx *gorm.DB, groupID uint, userIDs []uint) (int64, error) {
	if len(userIDs) == 0 {
		return 0, nil
	}
	res := tx.Where("group_id = ? AND user_id IN ?", groupID, userIDs).Delete(&UserGroup{})
	return res.RowsAffected, res.Error
}

// SetUserGroups makes groupIDs exactly userID's groups inside tx.
func SetUserGroups(tx *gorm.DB, userID uint, groupIDs []uint) error {
	q := tx.Where("user_id = ?", userID)
	if len(groupIDs) > 0 {
		q = q.Where("group_id NOT IN ?", groupIDs)
	}
	if err := q.Delete(&UserGroup{}).Error; err != nil {
		return err
	}
	rows := make([]UserGroup, 0, len(groupIDs))
	for _, id := range slices.Compact(slices.Sorted(slices.Values(groupIDs))) {
		rows = append(rows, UserGroup{UserID: userID, GroupID: id})
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
}

// MemberIDs returns the IDs of groupID's members inside tx.
func MemberIDs(tx *gorm.DB, groupID uint) ([]uint, error) {
	var ids []uint
	err := tx.Model(&UserGroup{}).Where("group_id = ?", groupID).Order("user_id").Pluck("user_id", &ids).Error
	return ids, err
}

// RemoveAllMembers empties groupID inside tx and returns how many left.
func RemoveAllMembers(tx *gorm.DB, groupID uint) (int64, error) {
	res := tx.Where("group_id = ?", groupID).Delete(&UserGroup{})
	return res.RowsAffected, res.Error
}
