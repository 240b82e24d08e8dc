package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/internal/websession"
	"gatehouse/models"
)

// oidcTokens signs some seeded users in to a registered OpenID client
// through the real flow (authorize, continue, token endpoint, with PKCE),
// once per instance, and keeps their access tokens for the userinfo
// scenario. The client is registered in the instance's database
// directly, as `gatehouse oidc-client add` does.
type oidcTokens struct {
	once   sync.Once
	tokens []string
	err    error
}

const oidcBenchRedirect = "http://rp.bench/callback"

func (o *oidcTokens) get(addr, dsn string, sd *seeded, n int) ([]string, error) {
	o.once.Do(func() { o.tokens, o.err = signInToApp(addr, dsn, sd, n) })
	return o.tokens, o.err
}

func signInToApp(addr, dsn string, sd *seeded, n int) ([]string, error) {
	ctx := context.Background()
	db, err := models.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	id, sec, err := oidcop.AddClient(ctx, db, oidcop.CommandLine, oidcop.NewClient{Name: "Bench", RedirectURIs: []string{oidcBenchRedirect}, SkipConsent: true})
	models.Close(db)
	if err != nil {
		return nil, err
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var tokens []string
	for i := range min(n, len(sd.cookies)) {
		verifier := base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {id}, "redirect_uri": {oidcBenchRedirect}, "response_type": {"code"}, "scope": {"openid profile email"},
			"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		next := "http://" + addr + route.URL(route.OIDCAuthorize) + "?" + q.Encode()
		var code string
		for range 4 {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.Header.Set("Cookie", websession.SessionCookieName+"="+sd.cookies[i])
			res, err := noFollow.Do(req)
			if err != nil {
				return nil, err
			}
			res.Body.Close()
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil || res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
				return nil, fmt.Errorf("oidc sign-in: %s answered %d", next, res.StatusCode)
			}
			if strings.HasPrefix(loc.String(), oidcBenchRedirect) {
				code = loc.Query().Get("code")
				break
			}
			next = loc.String()
		}
		if code == "" {
			return nil, errors.New("oidc sign-in: no code")
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidcBenchRedirect}, "code_verifier": {verifier},
			"client_id": {id}, "client_secret": {sec}}
		res, err := http.PostForm("http://"+addr+route.URL(route.OIDCToken), form)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("oidc token endpoint: %d %s", res.StatusCode, body)
		}
		tokens = append(tokens, tok.AccessToken)
	}
	return tokens, nil
}

// userinfoGets are GET /oidc/userinfo/ requests with the access tokens.
func userinfoGets(addr string, tokens []string) requestSet {
	var rs requestSet
	for _, t := range tokens {
		rs = append(rs, rawRequest(http.MethodGet, addr, route.URL(route.OIDCUserinfo), [][2]string{{"Authorization", "Bearer " + t}}, ""))
	}
	return rs
}
