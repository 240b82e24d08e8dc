// Package assets embeds Gatehouse's static files (htmx, the stylesheet, the
// icon) and serves them under content-hashed names, so a page can tell
// browsers to cache them for a year and a new build still takes effect at once.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed htmx.min.js style.css app.js webauthn.js favicon.svg
var files embed.FS

// Prefix is the URL path under which assets are served.
const Prefix = "/assets/"

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var (
	byHashed = map[string]asset{}  // "style.3f2a9c1e.css" -> asset
	pathOf   = map[string]string{} // "style.css" -> "/assets/style.3f2a9c1e.css", built once: every page asks
)

func init() {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("assets: " + err.Error()) // embedded at build time; cannot fail at run time
	}
	for _, e := range entries {
		body, err := files.ReadFile(e.Name())
		if err != nil {
			panic("assets: " + err.Error())
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:12]
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + h + ext
		ct := mime.TypeByExtension(ext)
		if ext == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		byHashed[hashed] = asset{body: body, contentType: ct, etag: `"` + h + `"`}
		pathOf[e.Name()] = Prefix + hashed
	}
}

// Path returns the URL of the named asset, with its content hash in the name.
// An unknown name returns a path that answers 404, never a panic.
func Path(name string) string {
	if p, ok := pathOf[name]; ok {
		return p
	}
	return Prefix + "missing/" + name
}

// Handler serves the embedded assets by hashed name with year-long immutable
// caching; any other name answers 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := byHashed[strings.TrimPrefix(r.URL.Path, Prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("ETag", a.etag)
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(a.body)
	})
}
