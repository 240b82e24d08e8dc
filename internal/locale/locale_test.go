package locale

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// catalogue reads locales/active.<code>.toml: ID → plural form → text.
func catalogue(t *testing.T, code string) map[string]map[string]string {
	t.Helper()
	raw := map[string]any{}
	if _, err := toml.DecodeFile(filepath.Join("locales", "active."+code+".toml"), &raw); err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	out := map[string]map[string]string{}
	for id, v := range raw {
		forms := map[string]string{}
		switch v := v.(type) {
		case string:
			forms["other"] = v
		case map[string]any:
			for k, s := range v {
				if k == "hash" || k == "description" {
					continue
				}
				forms[k], _ = s.(string)
			}
		}
		out[id] = forms
	}
	return out
}

var placeholder = regexp.MustCompile(`\{\{[^}]*\}\}`)

func placeholders(forms map[string]string) []string {
	seen := map[string]bool{}
	for _, s := range forms {
		for _, p := range placeholder.FindAllString(s, -1) {
			seen[strings.Join(strings.Fields(p), "")] = true
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Every shipped language has every message of the English catalogue, no
// message the code no longer has, and the same placeholders as English; a
// plural message has every form the language's CLDR rules use.
func TestCataloguesComplete(t *testing.T) {
	if err := LoadError(); err != nil {
		t.Fatal(err)
	}
	en := catalogue(t, "en")
	if len(en) < 10 {
		t.Fatalf("English catalogue has %d messages", len(en))
	}
	for _, l := range Languages[1:] {
		cat := catalogue(t, l.Code)
		for id, forms := range en {
			tr, ok := cat[id]
			if !ok {
				t.Errorf("%s lacks %q (%q)", l.Code, id, forms["other"])
				continue
			}
			if tr["other"] == "" {
				t.Errorf("%s: %q has no text", l.Code, id)
			}
			if a, b := placeholders(forms), placeholders(tr); !slices.Equal(a, b) {
				t.Errorf("%s: %q has placeholders %v, English %v", l.Code, id, b, a)
			}
			if _, plural := forms["one"]; plural {
				for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 100, 1000000} {
					m := i18n.Message{ID: id, One: forms["one"], Other: forms["other"]}
					if _, err := For(l.Code).localizeErr(&m, map[string]any{"Count": n}, n); err != nil {
						t.Errorf("%s: %q for %d: %v", l.Code, id, n, err)
					}
				}
			}
		}
		for id := range cat {
			if _, ok := en[id]; !ok {
				t.Errorf("%s has %q, which the code no longer uses", l.Code, id)
			}
		}
	}
}

// The English catalogue is what `goi18n extract` finds in the code now:
// no message was added, changed or removed without `task i18n`.
func TestEnglishCatalogueExtracted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool goi18n")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "tool", "goi18n", "extract", "-outdir", dir, "-format", "toml", "../..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goi18n extract: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "active.en.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("locales", "active.en.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("locales/active.en.toml is not what the code holds: run `task i18n` and translate the new messages")
	}
}

func TestMatch(t *testing.T) {
	cases := []struct{ header, want string }{
		{"", ""},
		{"de", "de"},
		{"de-AT", "de"},
		{"de-CH,de;q=0.9", "de"},
		{"fr-CA,fr;q=0.9,en;q=0.8", "fr"},
		{"es-419", "es"},
		{"es-MX;q=0.9,de;q=0.95", "de"},
		{"en-GB,en;q=0.9", "en"},
		{"ja, de;q=0.5", "de"},
		{"it;q=0.9, fr;q=0.1", "fr"},
		{"de;q=0, fr;q=0.5", "fr"},
		{"ja", ""},
		{"*", ""},
		{"zz-ZZ,,;;q=abc", ""},
		{";q=0.5", ""},
		{strings.Repeat("de-AT,", 500), ""},
		{"\x00\xff", ""},
	}
	for _, c := range cases {
		if got := Match(c.header); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

func TestPluralsAndPlaceholders(t *testing.T) {
	m := i18n.Message{ID: "test.passkeys", One: "{{.Count}} passkey", Other: "{{.Count}} passkeys"}
	en := For("en")
	if got := en.N(m, 1); got != "1 passkey" {
		t.Errorf("N(1) = %q", got)
	}
	if got := en.N(m, 2); got != "2 passkeys" {
		t.Errorf("N(2) = %q", got)
	}
	if got := en.T(i18n.Message{ID: "test.hello", Other: "Hello {{.Name}}"}, map[string]any{"Name": "<b>"}); got != "Hello <b>" {
		t.Errorf("T = %q (components escape; T must not)", got)
	}
}

func TestDates(t *testing.T) {
	when := time.Date(2026, time.March, 5, 23, 30, 0, 0, time.UTC)
	cases := []struct{ code, zone, want string }{
		{"en", "", "5 Mar 2026, 23:30 UTC"},
		{"de", "", "5. März 2026, 23:30 UTC"},
		{"fr", "", "5 mars 2026, 23:30 UTC"},
		{"es", "", "5 mar. 2026, 23:30 UTC"},
		{"de", "Europe/Berlin", "6. März 2026, 00:30 CET"},
		{"en", "America/New_York", "5 Mar 2026, 18:30 EST"},
	}
	for _, c := range cases {
		l := For(c.code)
		if c.zone != "" {
			l = l.In(Zone(c.zone))
		}
		if got := l.DateTime(when); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.code, c.zone, got, c.want)
		}
	}
	for _, bad := range []string{"Local", "../../etc/passwd", "/etc/localtime", "Nowhere/City", strings.Repeat("A", 100), "Europe/Berlin\x00"} {
		if Zone(bad) != nil || ValidZone(bad) {
			t.Errorf("zone %q accepted", bad)
		}
	}
}

// Match keeps its answers, at most maxMatched of them: a flood of distinct
// headers never grows the map beyond that, and answers stay right.
func TestMatchCacheBounded(t *testing.T) {
	matched.Clear()
	matchedN.Store(0)
	for i := range 3 * maxMatched {
		h := "de-x-" + strconv.Itoa(i) + ",en;q=0.1"
		if got := Match(h); got != "de" {
			t.Fatalf("%s: %q", h, got)
		}
	}
	n := 0
	matched.Range(func(_, _ any) bool { n++; return true })
	if n > maxMatched {
		t.Errorf("%d headers kept, at most %d", n, maxMatched)
	}
	for range 3 {
		if got := Match("fr-CA,fr;q=0.9"); got != "fr" {
			t.Errorf("cached answer %q", got)
		}
		if got := Match("xx"); got != "" {
			t.Errorf("no match cached as %q", got)
		}
	}
}

// TestCatalogueReadOnFirstUse: a language's catalogue is read when it is
// first asked for; a burst of first requests in parallel reads it once and
// every one gets the translation (run with -race).
func TestCatalogueReadOnFirstUse(t *testing.T) {
	fr := &Localizer{lang: "fr", tag: language.French, tz: time.UTC, cat: &messageSet{}}
	if fr.cat.loc != nil {
		t.Fatal("catalogue read before first use")
	}
	m := i18n.Message{ID: "date.month.2", Other: "Feb"}
	want := For("fr").T(m)
	if want == "Feb" || want == "" {
		t.Fatalf("French February: got %q from the shipped localizer, want a translation", want)
	}
	got := make([]string, 16)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = fr.T(m) })
	}
	wg.Wait()
	for i, g := range got {
		if g != want {
			t.Fatalf("request %d: got %q, want %q", i, g, want)
		}
	}
	if d := fr.In(time.UTC).Date(time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)); !strings.Contains(d, want) {
		t.Errorf("French date: got %q, want the month %q in it", d, want)
	}
}

// T1 (one placeholder, no map) says what T says with the same value, in
// every language, for a message of the catalogue, one it lacks, and one
// with a second placeholder.
func TestT1MatchesT(t *testing.T) {
	msgs := []i18n.Message{
		{ID: "auth.greeting", Other: "Hi {{.Name}}!"},
		{ID: "test.not_in_any_catalogue", Other: "Only {{.Name}} here"},
		{ID: "test.two_placeholders", Other: "{{.Name}} and {{.Other}}"},
		{ID: "test.no_placeholder", Other: "Plain"},
	}
	for _, l := range Languages {
		loc := For(l.Code)
		for _, m := range msgs {
			for _, v := range []string{"alice", "", "<b>&{{.Name}}"} {
				if got, want := loc.T1(m, "Name", v), loc.T(m, map[string]any{"Name": v}); got != want {
					t.Errorf("%s %s with %q: T1 %q, T %q", l.Code, m.ID, v, got, want)
				}
			}
		}
	}
	if got := For("de").T1(msgs[0], "Name", "alice"); !strings.Contains(got, "alice") || got == "Hi alice!" {
		t.Errorf("German greeting: %q", got)
	}
}
