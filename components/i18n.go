package components

import (
	"context"
	"time"

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
