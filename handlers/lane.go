package handlers

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/internal/route"
)

// The plain lane answers the plain login page (a visitor's GET of
// /accounts/login/ with no cookie, no query, no body) before the router, the
// way Django's FetchFromCacheMiddleware answers a cached anonymous page
// before the view: with the response the middleware chain itself gave a
// plain request for the page in that language, which servePrerendered
// keeps (laneResponse), and a request ID of its own.
//
// It costs a plain request what no middleware can avoid (its ID, its
// headers, its log line and metrics) and nothing else: no router, no
// request scope, no session handle, no user lookup. Every request the lane
// does not take, and every request before the chain has answered one
// like it, goes through the chain as before.
//
// What the chain would decide from the request alone, the lane decides the
// same way: the language (chooseLanguage, no cookie and no user), the
// request ID (requestIDValue). Everything else that could change the
// answer keeps a request out of the lane: any header but the few that
// browsers send with every navigation and the page ignores (plainHeader:
// a cookie, htmx's headers, X-Forwarded-For and anything new take the
// chain), a query, a body, another method; and the one check that refuses
// such a request, a database file replaced under the server (the chain
// answers 503). TestPlainLaneSameResponse compares the lane's answers with
// the chain's, byte for byte.

// laneResponse is the chain's answer to a plain request for a prerendered
// page: its headers but the request ID, and its body.
type laneResponse struct {
	header []headerValue
	body   []byte
}

type headerValue struct {
	key string
	val []string // len == cap: see securityHeaderValues
}

// keepLaneResponse records, once, the response the chain is about to send
// to a plain request for p (headers hd, body).
func (p *prerendered) keepLaneResponse(r *http.Request, hd http.Header, body []byte) {
	if p.lane.Load() != nil || !plainRequest(r) {
		return
	}
	resp := &laneResponse{body: body}
	for k, v := range hd {
		if k != "X-Request-Id" {
			resp.header = append(resp.header, headerValue{k, slices.Clip(slices.Clone(v))})
		}
	}
	p.lane.CompareAndSwap(nil, resp)
}

// plainRequest reports whether r is a GET with nothing that could change
// a prerendered page's response but its language: no query, no body, and
// only headers from plainHeader.
func plainRequest(r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.RawQuery != "" || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	for k := range r.Header {
		if !plainHeader(k) {
			return false
		}
	}
	return true
}

// plainHeader reports whether a request header (canonical key) leaves the
// plain login page as it is: what browsers send with every navigation.
// Accept-Language picks the page's language (the lane picks it the same
// way) and X-Request-ID its request ID (likewise).
func plainHeader(k string) bool {
	switch k {
	case "Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Connection", "Dnt", "Pragma",
		"Priority", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Gpc", "Upgrade-Insecure-Requests",
		"User-Agent", "X-Request-Id":
		return true
	}
	return false
}

// plainLane puts the plain lane in front of next. engine is the router
// next leads to (its trusted proxies give a logged line's client address).
func (a *App) plainLane(next http.Handler, engine *gin.Engine) http.Handler {
	mw, signIn := a.areas.mw, a.areas.signIn
	path, pattern := route.URL(route.Login), route.Pattern(route.Login)
	client := clientOf(engine)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || !plainRequest(r) {
			next.ServeHTTP(w, r)
			return
		}
		p := signIn.loginPlain[mw.chooseLanguage(r, nil)]
		var resp *laneResponse
		if p != nil { // nil: nothing is prerendered
			resp = p.lane.Load()
		}
		if resp == nil || mw.probe.FileFault() != nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		hd := w.Header()
		for _, v := range resp.header {
			hd[v.key] = v.val
		}
		id := requestIDValue(r.Header)
		hd["X-Request-Id"] = id
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resp.body) // a client gone: nothing to do, as in the chain
		p.laneServed.Add(1)
		mw.requestDone(r, id[0], pattern, http.StatusOK, start, func() string { return client(r).IP })
	})
}

// laneCount is how many requests the lane answered for p (tests).
func (p *prerendered) laneCount() int64 { return p.laneServed.Load() }
