// Package locale is Gatehouse's languages: the message catalogues (files
// under locales/, extracted from the code by `goi18n extract`, see `task
// i18n`), the choice of a language for a request (Match), and a Localizer
// carried by the request's context so that handlers, templ components and
// e-mails all speak the reader's language without threading it through
// every view model.
//
// Messages are written in the code as go-i18n literals, English included:
//
//	locale.T(ctx, i18n.Message{ID: "login.title", Other: "Log in"})
//
// English is the source: its text is the literal's, never a file's. Every
// other language is a file locales/active.<code>.toml plus a line in
// Languages.
package locale

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // profile time zones do not depend on the host's zoneinfo

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Language is one language the interface is offered in.
type Language struct {
	Code string // BCP 47 base language: "de"
	Name string // its own name for itself, as the menu shows it
}

// Languages are the shipped languages, English (the source) first. Adding a
// language is a file, locales/active.<code>.toml, and a line here.
var Languages = []Language{
	{Code: "en", Name: "English"},
	{Code: "de", Name: "Deutsch"},
	{Code: "fr", Name: "Français"},
	{Code: "es", Name: "Español"},
}

//go:embed locales/active.*.toml
var files embed.FS

var (
	matcher language.Matcher
	byCode  map[string]*Localizer
)

func init() {
	tags := make([]language.Tag, 0, len(Languages))
	byCode = make(map[string]*Localizer, len(Languages))
	for _, l := range Languages {
		tag := language.MustParse(l.Code)
		tags = append(tags, tag)
		byCode[l.Code] = &Localizer{lang: l.Code, tag: tag, tz: time.UTC, cat: &messageSet{}}
	}
	matcher = language.NewMatcher(tags)
}

// messageSet is one language's messages, read from its file on first use:
// parsing the three catalogues took 75 ms and 10 MB of allocations at
// start-up and kept about 3 MB, which a site used in one language never
// needs (DECISIONS.md, "Performance").
type messageSet struct {
	once  sync.Once
	err   error
	loc   *i18n.Localizer
	plain map[string]string // messages without placeholders or plurals
	dates *dateFormats
}

// messages returns l's catalogue, reading it on the first call.
func (l *Localizer) messages() *messageSet {
	l.cat.once.Do(l.load)
	return l.cat
}

// load reads l's catalogue: its own bundle, so languages load
// independently (English, the code's own text, has no file).
func (l *Localizer) load() {
	c := l.cat
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	if l.lang != "en" {
		mf, err := bundle.LoadMessageFileFS(files, "locales/active."+l.lang+".toml")
		if err != nil {
			c.err = fmt.Errorf("locale %s: %w", l.lang, err)
		} else {
			c.plain = make(map[string]string, len(mf.Messages))
			for _, m := range mf.Messages {
				if m.One == "" && m.Few == "" && m.Many == "" && m.Two == "" && m.Zero == "" && simpleTemplate(m.Other) {
					c.plain[m.ID] = m.Other
				}
			}
		}
	}
	c.loc = i18n.NewLocalizer(bundle, l.lang)
	c.dates = l.prepareDates()
}

// LoadError reads every catalogue and returns the first error, if any (a
// test fails on it; a language whose file does not parse speaks English).
func LoadError() error {
	for _, lang := range Languages {
		if err := byCode[lang.Code].messages().err; err != nil {
			return err
		}
	}
	return nil
}

// Supported reports whether code is a shipped language's code.
func Supported(code string) bool { _, ok := byCode[code]; return ok }

// Match picks the best shipped language for an Accept-Language header
// (q-values honoured; de-AT gives de), or "" when nothing matches.
func Match(acceptLanguage string) string {
	if acceptLanguage == "" || len(acceptLanguage) > 1024 {
		return ""
	}
	// Browsers send a handful of distinct headers: the answer for each is
	// kept, in a map of at most maxMatched entries (emptied when full, so
	// a flood of made-up headers costs parsing, never memory).
	if code, ok := matched.Load(acceptLanguage); ok {
		return code.(string)
	}
	code := match(acceptLanguage)
	if matchedN.Add(1) > maxMatched {
		matched.Clear()
		matchedN.Store(1)
	}
	matched.Store(acceptLanguage, code)
	return code
}

const maxMatched = 1000

var (
	matched  sync.Map // Accept-Language header → language code ("" for none)
	matchedN atomic.Int64
)

func match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return ""
	}
	_, idx, conf := matcher.Match(tags...)
	if conf == language.No {
		return ""
	}
	return Languages[idx].Code
}

// Localizer speaks one language in one time zone.
type Localizer struct {
	lang string
	tag  language.Tag
	tz   *time.Location
	cat  *messageSet // shared by the language's localizers in every zone
}

// For returns the localizer of a shipped language code (English for any
// other), in UTC.
func For(code string) *Localizer {
	if l, ok := byCode[code]; ok {
		return l
	}
	return byCode["en"]
}

// Lang is the localizer's language code, as <html lang> shows it.
func (l *Localizer) Lang() string { return l.lang }

// Location is the reader's time zone.
func (l *Localizer) Location() *time.Location { return l.tz }

// In returns the same language in time zone tz (UTC when nil).
func (l *Localizer) In(tz *time.Location) *Localizer {
	if tz == nil {
		tz = time.UTC
	}
	if tz == l.tz {
		return l
	}
	// Zones come from Zone, which keeps one *time.Location per name: the
	// localizer of each (language, zone) is made once.
	key := zoned{l.lang, tz}
	if z, ok := inZone.Load(key); ok {
		return z.(*Localizer)
	}
	c := *l
	c.tz = tz
	inZone.Store(key, &c)
	return &c
}

type zoned struct {
	lang string
	tz   *time.Location
}

var inZone sync.Map // zoned → *Localizer

// T returns message m in the localizer's language, its placeholders
// ({{.Name}}) filled from data.
func (l *Localizer) T(m i18n.Message, data ...map[string]any) string {
	// The fast path: a map lookup, and placeholders filled by hand when
	// they are plain {{.Name}} (go-i18n's text/template only otherwise).
	if l.lang == "en" && len(data) == 0 && strings.IndexByte(m.Other, '{') < 0 {
		return m.Other // English without placeholders: the literal itself
	}
	text, ok := m.Other, l.lang == "en" && simpleTemplate(m.Other)
	if l.lang != "en" {
		text, ok = l.messages().plain[m.ID]
	}
	if ok {
		if len(data) == 0 {
			return text
		}
		return fill(text, data[0])
	}
	var td map[string]any
	if len(data) > 0 {
		td = data[0]
	}
	// A copy for go-i18n, made here: taking m's own address would move
	// every call's m to the heap, fast path included.
	slow := m
	return l.localize(&slow, td, nil)
}

// T1 is T with one placeholder, {{.<name>}}, filled with value: the same
// text without a map to build (the greeting on every signed-in page).
func (l *Localizer) T1(m i18n.Message, name, value string) string {
	text, ok := m.Other, l.lang == "en" && simpleTemplate(m.Other)
	if l.lang != "en" {
		text, ok = l.messages().plain[m.ID]
	}
	if !ok {
		return l.T(m, map[string]any{name: value})
	}
	ph := "{{." + name + "}}"
	if i := strings.Index(text, ph); i >= 0 && strings.Count(text, "{{") == 1 {
		return text[:i] + value + text[i+len(ph):]
	}
	return fill(text, map[string]any{name: value})
}

// N returns the plural form of m for count (CLDR rules of the language);
// data may use {{.Count}}, which is set to count.
func (l *Localizer) N(m i18n.Message, count int, data ...map[string]any) string {
	td := map[string]any{"Count": count}
	if l.lang == "en" {
		// English's CLDR rule: "one" for 1 alone.
		text := m.Other
		if count == 1 && m.One != "" {
			text = m.One
		}
		if simpleTemplate(text) {
			if len(data) > 0 {
				for k, v := range data[0] {
					td[k] = v
				}
			}
			return fill(text, td)
		}
	}
	if len(data) > 0 {
		for k, v := range data[0] {
			td[k] = v
		}
	}
	slow := m
	return l.localize(&slow, td, count)
}

func (l *Localizer) localize(m *i18n.Message, data map[string]any, count any) string {
	s, err := l.localizeErr(m, data, count)
	if err != nil {
		var nf *i18n.MessageNotFoundErr
		if l.lang != "en" && errors.As(err, &nf) {
			missing.Store(l.lang+" "+m.ID, struct{}{})
		}
		if s == "" {
			return m.Other
		}
	}
	return s
}

// missing records the messages asked for in a language whose catalogue
// lacks them (shown in English instead): a message the extractor did not
// find, or a catalogue not merged. Tests read it (Missing).
var missing sync.Map

// Missing lists "lang id" of every message asked for and not found since
// the process started.
func Missing() []string {
	var out []string
	missing.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	sort.Strings(out)
	return out
}

func (l *Localizer) localizeErr(m *i18n.Message, data map[string]any, count any) (string, error) {
	return l.messages().loc.Localize(&i18n.LocalizeConfig{DefaultMessage: m, TemplateData: data, PluralCount: count})
}

type ctxKey struct{}

// ContextKey is the context key From reads. A context type that holds the
// localizer itself (the HTTP layer's request scope) answers it with a
// non-nil *Localizer, or passes it on to its parent.
var ContextKey any = ctxKey{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// From returns the context's localizer, English in UTC when there is none.
func From(ctx context.Context) *Localizer {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(*Localizer); ok {
			return l
		}
	}
	return byCode["en"]
}

// T is From(ctx).T(m, data...).
func T(ctx context.Context, m i18n.Message, data ...map[string]any) string {
	return From(ctx).T(m, data...)
}

// N is From(ctx).N(m, count, data...).
func N(ctx context.Context, m i18n.Message, count int, data ...map[string]any) string {
	return From(ctx).N(m, count, data...)
}

var zones sync.Map // name → *time.Location

// Zone returns the time zone called name (an IANA name such as
// "Europe/Berlin"), or nil when there is none by that name.
func Zone(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location)
	}
	if !ValidZone(name) {
		return nil
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, z)
	return z
}

// ValidZone reports whether name is a time zone we accept: an IANA name
// that loads ("Local" and paths are refused).
func ValidZone(name string) bool {
	if name == "" || len(name) > 64 || name == "Local" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '_' || r == '-' || r == '+') {
			return false
		}
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// simpleTemplate reports whether s uses no template syntax but {{.Name}}.
func simpleTemplate(s string) bool {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return !strings.Contains(s, "}}")
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return false
		}
		name := s[i+2 : i+j]
		if len(name) < 2 || name[0] != '.' {
			return false
		}
		for _, r := range name[1:] {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
		s = s[i+j+2:]
	}
}

// fill replaces each {{.Name}} of a simple template with data's value, as
// text/template prints it ("<no value>" when missing).
func fill(s string, data map[string]any) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}}")
		b.WriteString(s[:i])
		if v, ok := data[s[i+3:i+j]]; ok {
			switch v := v.(type) {
			case string:
				b.WriteString(v)
			default:
				fmt.Fprint(&b, v)
			}
		} else {
			b.WriteString("<no value>")
		}
		s = s[i+j+2:]
	}
}

// Codes lists the shipped language codes, comma-separated.
func Codes() string {
	codes := make([]string, len(Languages))
	for i, l := range Languages {
		codes[i] = l.Code
	}
	return strings.Join(codes, ", ")
}

// TranslationOf is the language's text of message id without placeholders
// filled ("" when it has none): for tests comparing pages with catalogues.
func (l *Localizer) TranslationOf(id string) string {
	if l.lang == "en" {
		return ""
	}
	if s, ok := l.messages().plain[id]; ok {
		return s
	}
	return ""
}
