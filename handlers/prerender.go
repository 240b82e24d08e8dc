package handlers

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"gatehouse/internal/locale"
)

// A prerendered page is a page whose bytes are the same for every request
// that gets it, such as the login page for a visitor with no flash message
// and no ?next=. It is rendered once, by the same templ component that
// renders its other variants, and then served from memory: editing the
// template changes it like any other page, and no HTML lives outside the
// .templ files.
//
// Only the handler knows when a request gets the common variant, so it asks
// for the bytes then and renders as usual otherwise. Under templ's hot
// reload (TEMPL_DEV_MODE, set by `task dev`) text is read from files at each
// render, so nothing is kept and every request renders.
//
// A page in several languages is kept once per language (prerenderedSet):
// each copy is rendered with that language's localizer in its context.
type prerendered struct {
	lang  string
	build func() templ.Component
	once  sync.Once
	body  []byte // nil when rendering failed: the handler renders instead
	// length is the Content-Length header's value, built with body.
	length []string
	// lane is the chain's whole response to a plain request for the page
	// (lane.go), nil until one has been answered; laneServed counts the
	// requests the lane answered with it.
	lane       atomic.Pointer[laneResponse]
	laneServed atomic.Int64
}

func newPrerendered(lang string, build func() templ.Component) *prerendered {
	return &prerendered{lang: lang, build: build}
}

// prerenderedSet is one prerendered page per shipped language.
type prerenderedSet map[string]*prerendered

func newPrerenderedSet(build func() templ.Component) prerenderedSet {
	set := prerenderedSet{}
	for _, l := range locale.Languages {
		set[l.Code] = newPrerendered(l.Code, build)
	}
	return set
}

// of returns the page in the request's language.
func (s prerenderedSet) of(ctx context.Context) *prerendered {
	return s[locale.From(ctx).Lang()]
}

// templDevMode is templ's own switch for hot reload of template text.
var templDevMode = os.Getenv("TEMPL_DEV_MODE") == "true"

// bytes returns the rendered page, or nil when it cannot be kept.
func (p *prerendered) bytes() []byte {
	if templDevMode {
		return nil
	}
	p.once.Do(func() {
		var buf bytes.Buffer
		if err := p.build().Render(locale.With(context.Background(), locale.For(p.lang)), &buf); err == nil {
			p.body = buf.Bytes()
			p.length = []string{strconv.Itoa(len(p.body))}
		}
	})
	return p.body
}

// htmlContentType is the Content-Type header's value for pages, shared by
// every response (len == cap: see securityHeaderValues).
var htmlContentType = []string{"text/html; charset=utf-8"}

// servePrerendered answers 200 with the prerendered page, reporting false (and writing
// nothing) when there is none, so the caller renders it instead.
//
// It writes what c.Data(200, "text/html; charset=utf-8", body) writes (the
// render path: TestPlainLaneSameResponse compares the bytes),
// with header values built once: Gin's Data boxes a renderer, builds the
// Content-Type slice, formats the length and canonicalizes its key on
// every request.
func (h *Handler) servePrerendered(c *gin.Context, p *prerendered) bool {
	if p == nil {
		return false
	}
	body := p.bytes()
	if body == nil {
		return false
	}
	if !h.saveSession(c) {
		return true
	}
	hd := c.Writer.Header()
	if len(hd["Content-Type"]) == 0 {
		hd["Content-Type"] = htmlContentType[:1:1]
	}
	hd["Content-Length"] = p.length[:1:1]
	p.keepLaneResponse(c.Request, hd, body)
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(body); err != nil {
		_ = c.Error(err) // as Gin's Data records it
	}
	return true
}
