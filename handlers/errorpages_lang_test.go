package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"gatehouse/internal/locale"
	"gatehouse/internal/route"
)

// Every error page (400, 403, 404, 405, 413, 429, 500, 503) in each
// language shows no English catalogue text: those a request can provoke
// through the whole stack (a cross-site POST, an unknown address, an
// oversized form), and every status errorResponse knows, answered by the
// real handler in a request carrying the language.
func TestErrorPagesTranslated(t *testing.T) {
	en := englishCatalogue(t)
	ts := newTestServer(t)
	statuses := make([]int, 0, len(errorTitles))
	for s := range errorTitles {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	for _, lang := range []string{"en", "de", "fr", "es"} {
		t.Run(lang, func(t *testing.T) {
			check := func(what string, status int, got *response) {
				t.Helper()
				if got.StatusCode != status {
					t.Fatalf("%s: status %d, want %d", what, got.StatusCode, status)
				}
				if l := htmlLang(t, got); l != lang {
					t.Errorf("%s: <html lang=%q>", what, l)
				}
				left := englishLeft(t, lang, en, visibleText(got.doc(t)))
				if lang == "en" && len(left) == 0 {
					t.Errorf("%s: no English catalogue text on the English page", what)
				}
				if lang != "en" && len(left) > 0 {
					t.Errorf("%s: English left on the %s page: %q", what, lang, left)
				}
			}
			c := withLanguage(ts.client(t), lang)
			check("unknown address", http.StatusNotFound, c.get("/no/such/page/"))
			req := c.newRequest(http.MethodPost, route.URL(route.Login), strings.NewReader("username=a&password=b"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			check("cross-site POST", http.StatusForbidden, c.do(req))
			big := url.Values{"username": {strings.Repeat("a", 2<<20)}, "password": {"b"}}
			check("oversized form", http.StatusRequestEntityTooLarge, c.postForm(route.URL(route.Login), big))

			for _, status := range statuses {
				rec := httptest.NewRecorder()
				gc, _ := gin.CreateTestContext(rec)
				gc.Request = httptest.NewRequest(http.MethodGet, "/", nil).WithContext(locale.With(context.Background(), locale.For(lang)))
				ts.h.errorResponse(gc, status)
				check(http.StatusText(status), status, &response{Response: rec.Result(), body: rec.Body.String()})
			}
		})
	}
}
