// Package upstream is Gatehouse's client side of other sign-in providers
// (django-allauth's "social accounts"): the providers file
// (SOCIAL_PROVIDERS), and for each provider the authorization request and
// the code exchange that yields a verified identity. Generic OpenID Connect
// providers go through github.com/coreos/go-oidc (discovery, ID token
// signature, issuer, audience, expiry) and golang.org/x/oauth2 (code
// exchange with PKCE); GitHub, which is OAuth2 without OpenID Connect,
// through its REST API. No JOSE or OAuth is parsed by hand here.
package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Provider types.
const (
	TypeOIDC   = "oidc"
	TypeGitHub = "github"
)

// ProviderConfig is one entry of the providers file.
type ProviderConfig struct {
	// ID names the provider in URLs (/accounts/oidc/<id>/login/) and in
	// the identities table; GitHub's is "github".
	ID   string `yaml:"id"`
	Type string `yaml:"type"`
	// Name is shown on the button ("Continue with <Name>").
	Name         string   `yaml:"name"`
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// AllowedDomains, when set, admits only identities whose (verified)
	// e-mail address is in one of these domains.
	AllowedDomains []string `yaml:"allowed_domains"`
	// EmailsVerified says this provider only hands out addresses it has
	// verified (a company directory), whatever its email_verified claim.
	EmailsVerified bool `yaml:"emails_verified"`
	// AuthURL, TokenURL and APIURL point a github provider at GitHub
	// Enterprise Server (defaults: github.com).
	AuthURL  string `yaml:"auth_url"`
	TokenURL string `yaml:"token_url"`
	APIURL   string `yaml:"api_url"`
}

// file is the providers file's shape.
type file struct {
	Providers []ProviderConfig `yaml:"providers"`
}

// MaxFileBytes bounds the providers file.
const MaxFileBytes = 1 << 20

// idPattern is what a provider id may be: it goes into URLs and into the
// session's auth method ("oidc:<id>", at most 32 characters).
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,23}$`)

// LoadFile reads and checks the providers file at path. Any problem (an
// unknown key, a missing field, a duplicate id) is an error naming it.
func LoadFile(path string) ([]ProviderConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return Parse(b)
}

// Parse reads and checks a providers document.
func Parse(b []byte) ([]ProviderConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs a providers: list")
		}
		return nil, err
	}
	if len(f.Providers) == 0 {
		return nil, errors.New("no providers: the file needs a providers: list with at least one entry")
	}
	var errs []error
	seen := map[string]bool{}
	for i := range f.Providers {
		p := &f.Providers[i]
		if err := p.check(); err != nil {
			errs = append(errs, fmt.Errorf("providers[%d] (%s): %w", i, p.ID, err))
			continue
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("providers[%d]: id %q appears twice", i, p.ID))
		}
		seen[p.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f.Providers, nil
}

// check fills defaults and reports what is wrong with one entry.
func (p *ProviderConfig) check() error {
	var errs []error
	if p.Type == "" {
		p.Type = TypeOIDC
	}
	switch p.Type {
	case TypeGitHub:
		if p.ID == "" {
			p.ID = "github"
		}
		if p.ID != "github" {
			errs = append(errs, errors.New(`a github provider's id is "github" (its URLs are /accounts/github/…)`))
		}
		if p.Name == "" {
			p.Name = "GitHub"
		}
		if p.Issuer != "" {
			errs = append(errs, errors.New("issuer is for OpenID Connect providers, not github (use auth_url, token_url, api_url for GitHub Enterprise)"))
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"read:user", "user:email"}
		}
		for _, u := range []struct{ key, v string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"api_url", p.APIURL}} {
			if u.v != "" {
				if err := checkURL(u.v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", u.key, err))
				}
			}
		}
	case TypeOIDC:
		if !idPattern.MatchString(p.ID) {
			errs = append(errs, fmt.Errorf("id %q must be 1 to 24 lower-case letters, digits, - or _ (it goes into URLs)", p.ID))
		}
		if p.ID == "github" {
			errs = append(errs, errors.New(`the id "github" is kept for type: github`))
		}
		if p.Name == "" {
			errs = append(errs, errors.New("name is required (the button says Continue with <name>)"))
		}
		if p.Issuer == "" {
			errs = append(errs, errors.New("issuer is required (e.g. https://sso.example.com)"))
		} else if err := checkURL(p.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("issuer: %w", err))
		}
		if len(p.Scopes) == 0 {
			p.Scopes = []string{"openid", "profile", "email"}
		}
		if !slices.Contains(p.Scopes, "openid") {
			errs = append(errs, errors.New("scopes must include openid"))
		}
		if p.AuthURL != "" || p.TokenURL != "" || p.APIURL != "" {
			errs = append(errs, errors.New("auth_url, token_url and api_url are for github; an OpenID Connect provider is found from its issuer"))
		}
	default:
		errs = append(errs, fmt.Errorf("type %q is not oidc or github", p.Type))
	}
	if p.ClientID == "" {
		errs = append(errs, errors.New("client_id is required"))
	}
	if p.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret is required"))
	}
	if len(p.Name) > 64 {
		errs = append(errs, errors.New("name is longer than 64 characters"))
	}
	for i, d := range p.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/ ") {
			errs = append(errs, fmt.Errorf("allowed_domains: %q is not a domain such as example.com", p.AllowedDomains[i]))
		}
		p.AllowedDomains[i] = d
	}
	return errors.Join(errs...)
}

// checkURL accepts https URLs, and http ones on a loopback host (a
// provider on the same machine, tests).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not a URL such as https://sso.example.com", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%q must be https (http only on localhost)", s)
}
