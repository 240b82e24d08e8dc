package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"gatehouse/models"
)

// outboxListLimit bounds a listing: an outbox stuck for a day can hold
// many rows, and the counts say how many more there are.
const outboxListLimit = 500

// outboxCmd is `gatehouse outbox list [--failed]` and `gatehouse outbox
// retry (ID... | --failed)`: operators see the mail waiting or failed (never
// a body or a link) and put failed mail back in the queue, to be sent now
// by the running server's worker.
func outboxCmd(fs *flag.FlagSet) runFunc {
	failed := fs.Bool("failed", false, "list: the messages that failed for good; retry: every one of them")
	return func(ctx context.Context, e *env, args []string) error {
		action, rest := args[0], args[1:]
		switch action {
		case "list":
			if len(rest) > 0 {
				return &usageError{cmd: "outbox", err: fmt.Errorf("outbox list takes no IDs (got %q)", rest[0])}
			}
		case "retry":
			if len(rest) == 0 && !*failed {
				return &usageError{cmd: "outbox", err: errors.New("outbox retry: give message IDs or --failed")}
			}
			if len(rest) > 0 && *failed {
				return &usageError{cmd: "outbox", err: errors.New("outbox retry: give message IDs or --failed, not both")}
			}
		default:
			return &usageError{cmd: "outbox", err: fmt.Errorf("outbox: unknown action %q (want list or retry)", action)}
		}
		ids := make([]uint, 0, len(rest))
		for _, a := range rest {
			n, err := strconv.ParseUint(a, 10, 32)
			if err != nil || n == 0 {
				return &usageError{cmd: "outbox", err: fmt.Errorf("outbox retry: %q is not a message ID (a number from outbox list)", a)}
			}
			ids = append(ids, uint(n))
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		outbox := models.NewOutbox(db)
		if action == "retry" {
			n, err := outbox.Retry(ctx, ids, *failed)
			if err != nil {
				return fmt.Errorf("outbox retry: %w", err)
			}
			fmt.Fprintf(e.stdout, "Queued %d message(s) to be sent now.\n", n)
			if len(ids) > 0 && int(n) < len(ids) {
				fmt.Fprintf(e.stdout, "%d ID(s) were not failed or waiting (sent, dropped, being sent, or unknown).\n", len(ids)-int(n))
			}
			return nil
		}
		rows, err := outbox.List(ctx, *failed, outboxListLimit)
		if err != nil {
			return fmt.Errorf("outbox list: %w", err)
		}
		stats, err := outbox.Stats(ctx)
		if err != nil {
			return fmt.Errorf("outbox list: %w", err)
		}
		writeOutboxList(e, rows, *failed)
		fmt.Fprintf(e.stdout, "%d waiting, %d failed.\n", stats.Pending, stats.Failed)
		return nil
	}
}

// writeOutboxList prints one line per message: never its payload.
func writeOutboxList(e *env, rows []models.OutboxMessage, failed bool) {
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	last := "NEXT TRY"
	if failed {
		last = "LAST ERROR"
	}
	fmt.Fprintf(tw, "ID\tKIND\tRECIPIENT\tATTEMPTS\tQUEUED\t%s\n", last)
	for _, m := range rows {
		detail := m.NextAttemptAt.UTC().Format(time.RFC3339)
		if m.ClaimedUntil != nil && m.ClaimedUntil.After(time.Now()) {
			detail = "being sent"
		} else if m.LastError != "" {
			detail += " (last error: " + m.LastError + ")"
		}
		if failed {
			detail = m.LastError
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Kind, m.Recipient, m.Attempts, m.CreatedAt.UTC().Format(time.RFC3339), detail)
	}
	_ = tw.Flush()
}
