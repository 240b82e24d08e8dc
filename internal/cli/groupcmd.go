package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"gatehouse/auth"
	"gatehouse/models"
)

// groupCmd is `gatehouse group add GROUP USER...` (creates GROUP when it
// does not exist), `group remove GROUP USER...` and `group list [GROUP]`.
// Each change is one transaction with its security events (auth/groups.go);
// a username no account has changes nothing.
func groupCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, args []string) error {
		action, rest := args[0], args[1:]
		switch action {
		case "add", "remove":
			if len(rest) < 2 {
				return &usageError{cmd: "group", err: fmt.Errorf("group %s: give a group and at least one username (group %s GROUP USER...)", action, action)}
			}
		case "list":
			if len(rest) > 1 {
				return &usageError{cmd: "group", err: errors.New("group list: give at most one group")}
			}
		default:
			return &usageError{cmd: "group", err: fmt.Errorf("group: unknown action %q (want add, remove or list)", action)}
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		if action == "list" {
			return listGroups(ctx, e, models.NewGroups(db), rest)
		}
		accounts := newCore(e.cfg, db).Accounts
		var ch *auth.GroupChange
		if action == "add" {
			ch, err = accounts.GroupAddByCommand(ctx, rest[0], rest[1:])
		} else {
			ch, err = accounts.GroupRemoveByCommand(ctx, rest[0], rest[1:])
		}
		if err != nil {
			return fmt.Errorf("group %s: %s", action, describeGroupError(rest[0], err))
		}
		if ch.Created {
			fmt.Fprintf(e.stdout, "Created group %q.\n", ch.Group.Name)
		}
		verb := map[string]string{"add": "Added to", "remove": "Removed from"}[action]
		if len(ch.Changed) == 0 {
			if action == "add" {
				fmt.Fprintf(e.stdout, "No change: they were all in group %q already.\n", ch.Group.Name)
			} else {
				fmt.Fprintf(e.stdout, "No change: none of them was in group %q.\n", ch.Group.Name)
			}
			return nil
		}
		fmt.Fprintf(e.stdout, "%s group %q: %s\n", verb, ch.Group.Name, strings.Join(ch.Changed, ", "))
		return nil
	}
}

func describeGroupError(group string, err error) string {
	var unknown *auth.ErrUnknownUsers
	var verr *models.ValidationError
	switch {
	case errors.As(err, &unknown):
		return unknown.Error() + " (nothing changed)"
	case errors.As(err, &verr):
		return strings.Join(verr.Fields["name"], " ")
	case errors.Is(err, models.ErrNotFound):
		return fmt.Sprintf("group %q does not exist", group)
	}
	return err.Error()
}

func listGroups(ctx context.Context, e *env, groups *models.Groups, args []string) error {
	if len(args) == 1 {
		gr, err := groups.ByName(ctx, args[0])
		if errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("group list: group %q does not exist", args[0])
		}
		if err != nil {
			return fmt.Errorf("group list: %w", err)
		}
		members, err := groups.Members(ctx, gr.ID)
		if err != nil {
			return fmt.Errorf("group list: %w", err)
		}
		for _, m := range members {
			fmt.Fprintln(e.stdout, m)
		}
		return nil
	}
	list, err := groups.List(ctx)
	if err != nil {
		return fmt.Errorf("group list: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "No groups.")
		return nil
	}
	for _, g := range list {
		fmt.Fprintf(e.stdout, "%s\t%d members\n", g.Name, g.Members)
	}
	return nil
}
