package components

import (
	"context"
	"errors"
	"html"
	"io"
	"strconv"
	"strings"
	"sync"
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

// text is T for a message in templ text, as a component:
// @text(i18n.Message{…}).
// templ writes a component by calling its Render, while a string
// expression ({ T(ctx, …) }) goes through fmt.Sprint, an allocation and a
// copy per message. Attributes, and messages with data, use T.
func text(m i18n.Message) message { return message(m) }

// message is a message rendered as escaped text in the reader's language.
type message i18n.Message

// Render writes m, escaped, in the language of ctx.
func (m message) Render(ctx context.Context, w io.Writer) error {
	_, err := io.WriteString(w, templ.EscapeString(locale.T(ctx, i18n.Message(m))))
	return err
}

// textWith is text for a message with one placeholder, {{.<name>}}:
// @textWith(i18n.Message{…}, "Name", value).
func textWith(m i18n.Message, name, value string) messageWith {
	return messageWith{m: m, name: name, value: value}
}

// messageWith is a message with its one placeholder's value.
type messageWith struct {
	m           i18n.Message
	name, value string
}

// Render writes m with its value, escaped, in the language of ctx.
func (m messageWith) Render(ctx context.Context, w io.Writer) error {
	_, err := io.WriteString(w, templ.EscapeString(locale.From(ctx).T1(m.m, m.name, m.value)))
	return err
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

// menuParts is the language menu of one language, rendered once: the
// markup before the next field, the field around its value, and after.
type menuParts struct{ head, fieldOpen, fieldClose, tail, empty string }

var menus sync.Map // language code → *menuParts

// menuMarker stands for next in the one rendering of each language's menu.
const menuMarker = "\x00next\x00"

// LanguageMenu is the footer's language menu with next (see languageMenu).
// The menu is the same on every page of a language but for next, so it is
// rendered once per language and next escaped into it: the footer costs a
// map lookup and a few writes per page.
func LanguageMenu(next string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		m, err := languageMenuParts(ctx)
		if err != nil {
			return err
		}
		if next == "" {
			_, err = io.WriteString(w, m.empty)
			return err
		}
		// Piece by piece: joining them first would copy the menu once more.
		for _, s := range [...]string{m.head, m.fieldOpen, templ.EscapeString(next), m.fieldClose, m.tail} {
			if _, err := io.WriteString(w, s); err != nil {
				return err
			}
		}
		return nil
	})
}

func languageMenuParts(ctx context.Context) (*menuParts, error) {
	code := lang(ctx)
	if m, ok := menus.Load(code); ok {
		return m.(*menuParts), nil
	}
	var b strings.Builder
	if err := languageMenu(menuMarker).Render(ctx, &b); err != nil {
		return nil, err
	}
	out := b.String()
	i := strings.Index(out, menuMarker)
	start := strings.LastIndex(out[:max(i, 0)], "<input")
	end := strings.Index(out[max(i, 0):], ">")
	if i < 0 || start < 0 || end < 0 {
		return nil, errors.New("components: the language menu lost its next field")
	}
	end += i + 1
	var empty strings.Builder
	if err := languageMenu("").Render(ctx, &empty); err != nil {
		return nil, err
	}
	m := &menuParts{head: out[:start], fieldOpen: out[start:i], fieldClose: out[i+len(menuMarker) : end], tail: out[end:], empty: empty.String()}
	menus.Store(code, m)
	return m, nil
}
