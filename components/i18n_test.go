package components

import (
	"context"
	"strings"
	"testing"

	"gatehouse/internal/locale"
)

// The footer's language menu, rendered once per language with next put
// in, is byte for byte what rendering it for each page gives, hostile next
// values included (escaped the same way).
func TestLanguageMenuCached(t *testing.T) {
	for _, l := range locale.Languages {
		ctx := locale.With(context.Background(), locale.For(l.Code))
		for _, next := range []string{"", "/accounts/profile/", `/x?a=1&b="2"`, `"><script>alert(1)</script>`, "/ü?q=é#frag", "\x00next\x00"} {
			var want, got strings.Builder
			if err := languageMenu(next).Render(ctx, &want); err != nil {
				t.Fatal(err)
			}
			if err := LanguageMenu(next).Render(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%s, next %q:\ngot  %s\nwant %s", l.Code, next, got.String(), want.String())
			}
			if strings.Contains(got.String(), "<script>") {
				t.Errorf("%s: next not escaped: %s", l.Code, got.String())
			}
		}
	}
}
