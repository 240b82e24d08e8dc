package oidcop

import (
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/internal/route"
	"gatehouse/models"
)

// client is a registered client as op sees it.
type client struct {
	row        *models.OIDCClient
	idTokenTTL time.Duration
}

func (c *client) GetID() string                    { return c.row.ClientID }
func (c *client) RedirectURIs() []string           { return models.Lines(c.row.RedirectURIs) }
func (c *client) PostLogoutRedirectURIs() []string { return models.Lines(c.row.PostLogoutRedirectURIs) }

// ApplicationType: public clients are native apps (RFC 8252: loopback
// redirects on any port), confidential ones web apps.
func (c *client) ApplicationType() op.ApplicationType {
	if c.row.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// AuthMethod: a public client has no secret; op then requires PKCE at the
// token endpoint. Confidential clients may send the secret either way
// (Config.AuthMethodPost).
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.row.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// LoginURL is where /authorize sends the browser: our page that signs the
// person in (Gatehouse's own login, second factors included), asks for
// consent and answers the client.
func (c *client) LoginURL(id string) string {
	return route.URL(route.OIDCContinue) + "?id=" + id
}

func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.idTokenTTL }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed lets every client ask for the groups scope; op drops any
// other non-standard scope.
func (c *client) IsScopeAllowed(scope string) bool { return scope == ScopeGroups }

// IDTokenUserinfoClaimsAssertion puts the profile and e-mail claims in the
// ID token too: many relying parties (oauth2-proxy, Grafana) read them
// from there.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// ScopeGroups asks for the groups claim.
const ScopeGroups = "groups"

// authRequest is a stored authorization request as op sees it.
type authRequest struct {
	row *models.OIDCAuthRequest
	sub string
}

func (a *authRequest) GetID() string  { return a.row.ID }
func (a *authRequest) GetACR() string { return "" }
func (a *authRequest) GetAMR() []string {
	return amrOf(a.row.AMR)
}
func (a *authRequest) GetAudience() []string { return []string{a.row.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	if a.row.AuthTime == nil {
		return time.Time{}
	}
	return *a.row.AuthTime
}
func (a *authRequest) GetClientID() string { return a.row.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.row.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.row.CodeChallenge, Method: oidc.CodeChallengeMethod(a.row.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                   { return a.row.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.row.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.row.ResponseMode)
}
func (a *authRequest) GetScopes() []string { return strings.Fields(a.row.Scopes) }
func (a *authRequest) GetState() string    { return a.row.State }
func (a *authRequest) GetSubject() string  { return a.sub }
func (a *authRequest) Done() bool          { return a.row.Done && a.row.UserID != nil }

// refreshRequest is a refresh token presented at the token endpoint.
type refreshRequest struct {
	row    *models.OIDCToken
	sub    string
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return amrOf(r.row.AMR) }
func (r *refreshRequest) GetAudience() []string       { return []string{r.row.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.row.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.row.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.sub }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// AMR maps a session's AuthMethod to RFC 8176 values. A sign-in through
// another provider ("oidc:<id>", "github") is "fed" (federated, as Entra
// ID says it), followed by its second factor's values when one was given
// ("oidc:corp+totp" → "fed otp mfa").
func AMR(method string) string {
	switch method {
	case "password", "signup":
		return "pwd"
	case "passkey":
		return "hwk user"
	}
	first, factor, _ := strings.Cut(method, "+")
	var out string
	switch {
	case first == "password":
		out = "pwd"
	case first == "github" || strings.HasPrefix(first, "oidc:"):
		out = "fed"
	default:
		return ""
	}
	switch factor {
	case "":
		return out
	case "totp":
		return out + " otp mfa"
	case "recovery":
		return out + " mfa"
	case "passkey":
		return out + " hwk mfa"
	}
	return ""
}

func amrOf(s string) []string { return strings.Fields(s) }
