package handlers

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"sync"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
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
type prerendered struct {
	build func() templ.Component
	once  sync.Once
	body  []byte // nil when rendering failed: the handler renders instead
}

func newPrerendered(build func() templ.Component) *prerendered {
	return &prerendered{build: build}
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
		if err := p.build().Render(context.Background(), &buf); err == nil {
			p.body = buf.Bytes()
		}
	})
	return p.body
}

// servePrerendered answers 200 with the prerendered page, reporting false (and writing
// nothing) when there is none, so the caller renders it instead.
func (h *Handler) servePrerendered(c *gin.Context, p *prerendered) bool {
	body := p.bytes()
	if body == nil {
		return false
	}
	if !h.saveSession(c) {
		return true
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", body)
	return true
}
