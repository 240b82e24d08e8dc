package components

import (
	"context"
	"html"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/locale"
)

// T is message m in the reader's language (the localizer the request's
// context carries, see internal/locale), placeholders filled from data:
//
//	{ T(ctx, i18n.Message{ID: "nav.login", Other: "Log in"}) }
func T(ctx context.Context, m i18n.Message, data ...map[string]any) string {
	return locale.T(ctx, m, data...)
}

// N is T for a message with plural forms, chosen by count with the
// language's CLDR rules; {{.Count}} is count.
func N(ctx context.Context, m i18n.Message, count int, data ...map[string]any) string {
	return locale.N(ctx, m, count, data...)
}

// lang is the reader's language code, for <html lang>.
func lang(ctx context.Context) string { return locale.From(ctx).Lang() }

// languages are the languages the footer's menu offers.
func languages() []locale.Language { return locale.Languages }

// formatTime is t as a date and time in the reader's language and zone.
func formatTime(ctx context.Context, t time.Time) string { return locale.From(ctx).DateTime(t) }

// formatDate is t as a date in the reader's language and zone.
func formatDate(ctx context.Context, t time.Time) string { return locale.From(ctx).Date(t) }

func formatOptionalTime(ctx context.Context, t *time.Time) string {
	if t == nil {
		return T(ctx, i18n.Message{ID: "time.never", Other: "never"})
	}
	return formatTime(ctx, *t)
}

// HTMLPart is a fragment of markup placed into a translated sentence by
// TH: an element around text the view supplies (escaped here).
type HTMLPart struct {
	Tag, TestID, Text string
	// Href is the link of an <a> part: a path of ours (route.URL), never
	// user input.
	Href string
}

// TH renders message m as HTML with its placeholders filled by parts, each
// an element (<strong>, <code>) around escaped text, so a sentence with
// marked-up words stays one message that a translator can reorder. The
// message's own text is escaped.
func TH(ctx context.Context, m i18n.Message, parts map[string]HTMLPart) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		data := make(map[string]any, len(parts))
		markers := make(map[string]string, len(parts))
		i := 0
		for k, p := range parts {
			marker := "\x00" + strconv.Itoa(i) + "\x00"
			i++
			data[k] = marker
			var b strings.Builder
			b.WriteString("<" + p.Tag)
			if p.Href != "" {
				b.WriteString(` href="` + html.EscapeString(p.Href) + `"`)
			}
			if p.TestID != "" {
				b.WriteString(` data-testid="` + html.EscapeString(p.TestID) + `"`)
			}
			b.WriteString(">" + html.EscapeString(p.Text) + "</" + p.Tag + ">")
			markers[marker] = b.String()
		}
		out := html.EscapeString(locale.T(ctx, m, data))
		for marker, frag := range markers {
			out = strings.Replace(out, marker, frag, 1)
		}
		_, err := io.WriteString(w, out)
		return err
	})
}
