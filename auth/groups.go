package auth

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"gatehouse/models"
)

// Group use cases. Groups decide who may enter the apps behind forward
// auth (ACCESS_RULES names them), so changing a group or a membership is a
// privilege change: only an active superuser may do it in the admin, as
// only a superuser changes staff or superuser status. Each change is one
// transaction that re-reads the actor, makes the change and records its
// security event. Memberships are read on every forward-auth check (no
// cache), so a change applies on the next request.

// ErrGroupExists: another group already has that name.
var ErrGroupExists = errors.New("a group with that name already exists")

// ErrUnknownUsers lists the usernames a command named that no account has;
// nothing was changed.
type ErrUnknownUsers struct{ Names []string }

func (e *ErrUnknownUsers) Error() string {
	return "no such user: " + strings.Join(e.Names, ", ")
}

func groupNameError(name string) error {
	if msg := models.ValidateGroupName(name); msg != "" {
		return &models.ValidationError{Fields: map[string][]string{"name": {msg}}}
	}
	return nil
}

// loadGroupAdmin reads the actor inside tx and requires an active superuser.
func loadGroupAdmin(tx *gorm.DB, actorID uint) (*models.User, error) {
	if err := models.SerializeAdminWrites(tx); err != nil {
		return nil, err
	}
	actor, err := loadActor(tx, actorID)
	if err != nil {
		return nil, err
	}
	if !actor.IsSuperuser {
		return nil, ErrNotAllowed
	}
	return actor, nil
}

func groupEvent(kind models.EventKind, actor *models.User, detail string) models.AuthEvent {
	return models.AuthEvent{Kind: kind, ActorID: &actor.ID, Username: actor.Username, Detail: detail}
}

// AdminCreateGroup creates a group for a superuser.
func (a *Accounts) AdminCreateGroup(ctx context.Context, actorID uint, name string) (*models.Group, error) {
	if err := groupNameError(name); err != nil {
		return nil, err
	}
	var gr *models.Group
	err := a.transaction(ctx, "create group", func(tx *gorm.DB) error {
		actor, err := loadGroupAdmin(tx, actorID)
		if err != nil {
			return err
		}
		var created bool
		if gr, created, err = models.EnsureGroup(tx, name); err != nil {
			return err
		}
		if !created {
			return ErrGroupExists
		}
		return models.RecordEvent(tx, ctx, groupEvent(models.EventGroupCreated, actor, models.CodedDetail(models.DetailGroup, "group", name)))
	})
	if err != nil {
		return nil, groupErr(err)
	}
	return gr, nil
}

// AdminRenameGroup renames a group for a superuser. Access rules name
// groups, so a rename changes who they let in: the event says from what to
// what.
func (a *Accounts) AdminRenameGroup(ctx context.Context, actorID, groupID uint, name string) error {
	if err := groupNameError(name); err != nil {
		return err
	}
	err := a.transaction(ctx, "rename group", func(tx *gorm.DB) error {
		actor, err := loadGroupAdmin(tx, actorID)
		if err != nil {
			return err
		}
		var gr models.Group
		if err := tx.Clauses(lockingUpdate).Take(&gr, groupID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.ErrNotFound
			}
			return err
		}
		if gr.Name == name {
			return nil
		}
		if err := tx.Model(&models.Group{}).Where("id = ?", groupID).Update("name", name).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, groupEvent(models.EventGroupRenamed, actor, models.CodedDetail(models.DetailGroupRenamed, "group", gr.Name, "name", name)))
	})
	return groupErr(err)
}

// AdminDeleteGroup deletes a group and its memberships for a superuser.
func (a *Accounts) AdminDeleteGroup(ctx context.Context, actorID, groupID uint) (*models.Group, error) {
	var gr models.Group
	err := a.transaction(ctx, "delete group", func(tx *gorm.DB) error {
		actor, err := loadGroupAdmin(tx, actorID)
		if err != nil {
			return err
		}
		if err := tx.Clauses(lockingUpdate).Take(&gr, groupID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.ErrNotFound
			}
			return err
		}
		members, err := models.RemoveAllMembers(tx, gr.ID)
		if err != nil {
			return err
		}
		if err := tx.Delete(&models.Group{}, gr.ID).Error; err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, groupEvent(models.EventGroupDeleted, actor, models.CodedDetail(models.DetailGroupDeleted, "group", gr.Name, "count", strconv.FormatInt(int64(members), 10))))
	})
	if err != nil {
		return nil, groupErr(err)
	}
	return &gr, nil
}

// AdminSetUserGroups makes groupIDs exactly the target's groups, for a
// superuser. Unknown group IDs are ErrNotFound.
func (a *Accounts) AdminSetUserGroups(ctx context.Context, actorID, targetID uint, groupIDs []uint) ([]string, error) {
	groupIDs = slices.Compact(slices.Sorted(slices.Values(groupIDs)))
	var after []string
	err := a.transaction(ctx, "set groups", func(tx *gorm.DB) error {
		actor, err := loadGroupAdmin(tx, actorID)
		if err != nil {
			return err
		}
		target, err := lockUser(tx, targetID)
		if err != nil {
			return err
		}
		if len(groupIDs) > 0 {
			var n int64
			if err := tx.Model(&models.Group{}).Where("id IN ?", groupIDs).Count(&n).Error; err != nil {
				return err
			}
			if n != int64(len(groupIDs)) {
				return models.ErrNotFound
			}
		}
		before, err := models.GroupNamesOf(tx, target.ID)
		if err != nil {
			return err
		}
		if err := models.SetUserGroups(tx, target.ID, groupIDs); err != nil {
			return err
		}
		if after, err = models.GroupNamesOf(tx, target.ID); err != nil {
			return err
		}
		if slices.Equal(before, after) {
			return nil
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventGroupsChanged, target, &actor.ID, groupsDetail(before, after)))
	})
	return after, groupErr(err)
}

// groupsDetail says which groups were joined and left.
func groupsDetail(before, after []string) string {
	var added, removed []string
	for _, g := range after {
		if !slices.Contains(before, g) {
			added = append(added, g)
		}
	}
	for _, g := range before {
		if !slices.Contains(after, g) {
			removed = append(removed, g)
		}
	}
	switch {
	case len(added) > 0 && len(removed) > 0:
		return models.CodedDetail(models.DetailGroupsAddedRemoved, "added", strings.Join(added, ", "), "removed", strings.Join(removed, ", "))
	case len(added) > 0:
		return models.CodedDetail(models.DetailGroupsAdded, "groups", strings.Join(added, ", "))
	case len(removed) > 0:
		return models.CodedDetail(models.DetailGroupsRemoved, "groups", strings.Join(removed, ", "))
	}
	return ""
}

// GroupChange is the outcome of a group command.
type GroupChange struct {
	Group   models.Group
	Created bool
	Changed []string // usernames that joined or left
}

// usersByName reads the named accounts inside tx; a name no account has is
// an *ErrUnknownUsers naming every such name.
func usersByName(tx *gorm.DB, names []string) ([]models.User, error) {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	var users []models.User
	if err := tx.Where("username IN ?", names).Order("username").Find(&users).Error; err != nil {
		return nil, err
	}
	if len(users) != len(names) {
		var missing []string
		for _, n := range names {
			if !slices.ContainsFunc(users, func(u models.User) bool { return u.Username == n }) {
				missing = append(missing, n)
			}
		}
		return nil, &ErrUnknownUsers{Names: missing}
	}
	return users, nil
}

// GroupAddByCommand puts the named users in group, creating the group when
// it does not exist (gatehouse group add). A name no account has changes
// nothing.
func (a *Accounts) GroupAddByCommand(ctx context.Context, group string, usernames []string) (*GroupChange, error) {
	if err := groupNameError(group); err != nil {
		return nil, err
	}
	var out GroupChange
	err := a.transaction(ctx, "add to group", func(tx *gorm.DB) error {
		users, err := usersByName(tx, usernames)
		if err != nil {
			return err
		}
		gr, created, err := models.EnsureGroup(tx, group)
		if err != nil {
			return err
		}
		out = GroupChange{Group: *gr, Created: created}
		if created {
			if err := models.RecordEvent(tx, ctx, models.AuthEvent{Kind: models.EventGroupCreated, Detail: models.CodedDetail(models.DetailGroupCreatedByCommand, "group", group)}); err != nil {
				return err
			}
		}
		before, err := models.MemberIDs(tx, gr.ID)
		if err != nil {
			return err
		}
		ids := make([]uint, 0, len(users))
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if _, err := models.AddMembers(tx, gr.ID, ids); err != nil {
			return err
		}
		for i := range users {
			if slices.Contains(before, users[i].ID) {
				continue
			}
			out.Changed = append(out.Changed, users[i].Username)
			if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventGroupsChanged, &users[i], nil, models.CodedDetail(models.DetailAddedByGroupCommand, "group", group))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, groupErr(err)
	}
	return &out, nil
}

// GroupRemoveByCommand takes the named users out of group (gatehouse group
// remove). The group stays, even when empty.
func (a *Accounts) GroupRemoveByCommand(ctx context.Context, group string, usernames []string) (*GroupChange, error) {
	var out GroupChange
	err := a.transaction(ctx, "remove from group", func(tx *gorm.DB) error {
		gr, err := models.GroupByName(tx, group)
		if err != nil {
			return err
		}
		out.Group = *gr
		users, err := usersByName(tx, usernames)
		if err != nil {
			return err
		}
		before, err := models.MemberIDs(tx, gr.ID)
		if err != nil {
			return err
		}
		ids := make([]uint, 0, len(users))
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if _, err := models.RemoveMembers(tx, gr.ID, ids); err != nil {
			return err
		}
		for i := range users {
			if !slices.Contains(before, users[i].ID) {
				continue
			}
			out.Changed = append(out.Changed, users[i].Username)
			if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventGroupsChanged, &users[i], nil, models.CodedDetail(models.DetailRemovedByGroupCommand, "group", group))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, groupErr(err)
	}
	return &out, nil
}

// groupErr maps the errors of group use cases that transaction does not.
func groupErr(err error) error {
	var unknown *ErrUnknownUsers
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknown):
		return unknown
	case errors.Is(err, ErrGroupExists), errors.Is(err, models.ErrDuplicateUsername):
		// A rename onto a taken name is a unique violation, which
		// transaction reports as a duplicate username.
		return ErrGroupExists
	}
	return err
}
