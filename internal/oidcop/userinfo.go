package oidcop

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/models"
)

// The userinfo endpoint, the provider's hot path (an app may call it on
// every page it serves). It is op's Userinfo handler step for step — op
// parses the request (ParseUserinfoRequest) and op's Crypto opens the
// access token — with one difference: the answer is a flat struct
// marshalled once, where op's oidc.UserInfo marshals itself, decodes that
// into a map to merge the groups claim and marshals the map again (a
// third of the endpoint's CPU). TestOIDCUserinfoMatchesOp checks that
// both answers hold the same claims.

// userinfoClaims are the claims Gatehouse gives, by scope (setClaims).
// EmailVerified false is left out, as op's oidc.UserInfo does; Groups is
// [] (present) for the groups scope and a user in no group, and absent
// without that scope.
type userinfoClaims struct {
	Subject           string   `json:"sub"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     bool     `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitzero"`
}

// fill puts c into op's UserInfo (ID tokens, introspection).
func (c *userinfoClaims) fill(info *oidc.UserInfo) {
	info.Subject = c.Subject
	info.PreferredUsername, info.Name = c.PreferredUsername, c.Name
	if c.Email != "" {
		info.Email = c.Email
		info.EmailVerified = oidc.Bool(c.EmailVerified)
	}
	if c.Groups != nil {
		info.AppendClaims("groups", c.Groups)
	}
}

// claims are the claims scopes ask for, for the user whose subject is
// sub; groups is called only when they ask for the groups claim.
func (p *Provider) claims(sub string, username, email string, emailVerified bool, scopes []string, groups func() ([]string, error)) (userinfoClaims, error) {
	c := userinfoClaims{Subject: sub}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		// Accounts have no separate display name: name is the username.
		c.PreferredUsername, c.Name = username, username
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && email != "" {
		c.Email, c.EmailVerified = email, emailVerified
	}
	if slices.Contains(scopes, ScopeGroups) {
		names, err := groups()
		if err != nil {
			return c, err
		}
		if names == nil {
			names = []string{}
		}
		c.Groups = names
	}
	return c, nil
}

// userinfoOf is the claims of the live access token tokenID of an active
// user whose subject is subject; access_denied otherwise.
func (p *Provider) userinfoOf(ctx context.Context, tokenID, subject string) (userinfoClaims, error) {
	// One prepared statement: the live token, its active user and the
	// user's groups; kept until the database next changes (a revocation,
	// a deactivation, a group change are all commits), and until the
	// token expires.
	now := time.Now()
	t := p.liveTokens.Begin()
	r, ok := p.liveTokens.Get(t, tokenID)
	if !ok || !now.Before(r.ExpiresAt) {
		var err error
		if r, err = models.OIDCLiveAccessToken(ctx, p.userinfo, tokenID, now); err != nil {
			return userinfoClaims{}, oidc.ErrAccessDenied().WithDescription("invalid token")
		}
		p.liveTokens.Put(t, tokenID, r)
	}
	sub := p.Subject(r.UserID)
	if sub != subject {
		return userinfoClaims{}, oidc.ErrAccessDenied().WithDescription("invalid token")
	}
	return p.claims(sub, r.Username, r.Email, r.EmailVerified, strings.Fields(r.Scopes), func() ([]string, error) {
		if r.GroupNames == "" {
			return nil, nil
		}
		return strings.Split(r.GroupNames, ","), nil // no group name holds a comma
	})
}

// maxCachedTokens bounds the access tokens userinfo keeps between two
// changes of the database (a couple of hundred bytes each).
const maxCachedTokens = 10_000

// Userinfo serves the userinfo endpoint (GET and POST, CORS as op's).
func (p *Provider) Userinfo() http.Handler { return p.userinfoHandler }

// serveUserinfo answers as op.Userinfo does: 401 without a token or with
// one that does not open, 403 with op's error JSON for a token that is
// not live, else the claims. Access tokens are op's opaque bearer tokens
// (Client.AccessTokenType), never JWTs, so op's JWT fallback has nothing
// to verify here.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	token, err := op.ParseUserinfoRequest(r, p.op.Decoder())
	if err != nil {
		http.Error(w, "access token missing", http.StatusUnauthorized)
		return
	}
	plain, err := p.op.Crypto().Decrypt(token)
	tokenID, subject, ok := strings.Cut(plain, ":")
	if err != nil || !ok || strings.Contains(subject, ":") {
		http.Error(w, "access token invalid", http.StatusUnauthorized)
		return
	}
	c, err := p.userinfoOf(r.Context(), tokenID, subject)
	if err != nil {
		httphelper.MarshalJSONWithStatus(w, err, http.StatusForbidden)
		return
	}
	httphelper.MarshalJSON(w, &c)
}

// UserinfoCacheStats returns how many userinfo requests the cache
// answered and how many it did not (tests).
func (p *Provider) UserinfoCacheStats() (hits, misses uint64) { return p.liveTokens.Stats() }
