package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"gatehouse/internal/djangoimport"
	"gatehouse/models"
)

const importDjangoUsage = `usage: gatehouse importdjango [--dry-run] [--allow-skips] SOURCE

SOURCE is a Django database: an SQLite file path or a postgres:// URL.
Users are read from auth_user and created in Gatehouse's database
(DATABASE_URL) with their password hashes as they are; each hash becomes
argon2id on the user's first login. Conflicts are reported, not merged.`

// importDjangoCommand is the importdjango command: it imports a Django
// site's users (djangoimport.Import has the rules), prints what it did, and
// fails when a user was skipped unless --allow-skips is given.
func importDjangoCommand(fs *flag.FlagSet) runFunc {
	dryRun := fs.Bool("dry-run", false, "decide and report everything, write nothing")
	allowSkips := fs.Bool("allow-skips", false, "succeed even when users were skipped")
	return func(ctx context.Context, e *env, args []string) error {
		source := strings.TrimSpace(args[0])
		if source == "" {
			return errors.New("importdjango: SOURCE is empty: give a Django SQLite file or a postgres:// URL")
		}
		return importDjango(ctx, e.cfg, source, *dryRun, *allowSkips, e.stdout, e.stderr)
	}
}

// importDjango runs the import of source and reports on stdout (progress
// on stderr).
func importDjango(ctx context.Context, cfg config, source string, dryRun, allowSkips bool, stdout, stderr io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.Close(db)

	if dryRun {
		fmt.Fprintf(stdout, "Dry run: reading %s; nothing will be written.\n", djangoimport.RedactSource(source))
	} else {
		fmt.Fprintf(stdout, "Importing users from %s.\n", djangoimport.RedactSource(source))
	}
	// A progress line at most every second, on stderr so the report on
	// stdout stays clean.
	var last time.Time
	start := time.Now()
	progress := func(done, total int) {
		if now := time.Now(); now.Sub(last) >= time.Second && now.Sub(start) >= time.Second {
			last = now
			fmt.Fprintf(stderr, "importdjango: %d/%d users written (%s)\n", done, total, now.Sub(start).Round(time.Second))
		}
	}
	rep, err := djangoimport.Import(ctx, db, source, djangoimport.Options{DryRun: dryRun, Progress: progress})
	if rep != nil {
		printImportReport(stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("importdjango: %w", err)
	}
	if n := len(rep.Skipped); n > 0 && !allowSkips {
		return fmt.Errorf("importdjango: %d user(s) skipped (listed above); fix them in Django and re-run, or accept with --allow-skips", n)
	}
	return nil
}

func printImportReport(w io.Writer, rep *djangoimport.Report) {
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "\nSkipped users:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  django id\tusername\treason\tdetail")
		for _, s := range rep.Skipped {
			fmt.Fprintf(tw, "  %d\t%q\t%s\t%s\n", s.DjangoID, clip(s.Username), s.Reason, clip(s.Detail))
		}
		tw.Flush()
	}
	verb := map[bool]string{true: "would be ", false: ""}[rep.DryRun]
	fmt.Fprintln(w, "\nSummary:")
	row := func(label string, n int) { fmt.Fprintf(w, "  %-34s %7d\n", label, n) }
	row("users read from Django", rep.Read)
	row(verb+"imported", rep.Imported)
	row(verb+"updated", rep.Updated)
	row("unchanged", rep.Unchanged)
	row(verb+"skipped", len(rep.Skipped))
	by := rep.SkippedByReason()
	for _, reason := range sortedKeys(by) {
		row("  "+reason, by[reason])
	}
	fmt.Fprintln(w, "\nPassword hashes in the Django database:")
	for _, alg := range sortedKeys(rep.Hashes) {
		row(alg, rep.Hashes[alg])
	}
	fmt.Fprintf(w, "\nTook %s. Gatehouse keeps no first or last name; those fields were not imported.\n", rep.Elapsed.Round(time.Millisecond))
	fmt.Fprintln(w, "Imported hashes become argon2id at each user's first login; unusable passwords can only be reset.")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// reportClip bounds each name and detail in the report: a hostile row's
// megabyte username must not make a megabyte report line.
const reportClip = 80

// clip shortens s to reportClip bytes (on a rune boundary), marking the cut.
func clip(s string) string {
	if len(s) <= reportClip {
		return s
	}
	cut := reportClip
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
