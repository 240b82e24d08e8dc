package main

import (
	"bytes"
	"gatehouse/internal/access"
	"gatehouse/internal/upstream"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The files under examples/ are what a newcomer copies, so they must stay
// loadable. Until Gatehouse's own loaders exist (ACCESS_RULES: issue 25,
// SOCIAL_PROVIDERS: issue 27), this test reads them with a YAML library
// into the formats docs/DESIGN fixes, refusing unknown keys as those
// loaders will; when a loader lands, this test must call it instead.

// stringList is a YAML scalar or a list of scalars, as Authelia accepts
// for domain and resources.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var s []string
	err := n.Decode(&s)
	*l = s
	return err
}

// subjects is Authelia's subject: a scalar, a list (any of), or a list
// whose items are scalars or lists (all of).
type subjects [][]string

func (s *subjects) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = [][]string{{n.Value}}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return &yaml.TypeError{Errors: []string{"subject: want a string or a list"}}
	}
	for _, item := range n.Content {
		var all stringList
		if err := item.Decode(&all); err != nil {
			return err
		}
		*s = append(*s, all)
	}
	return nil
}

type accessRules struct {
	AccessControl struct {
		DefaultPolicy string `yaml:"default_policy"`
		Rules         []struct {
			Domain    stringList `yaml:"domain"`
			Resources stringList `yaml:"resources"`
			Subject   subjects   `yaml:"subject"`
			Policy    string     `yaml:"policy"`
		} `yaml:"rules"`
	} `yaml:"access_control"`
}

type socialProviders struct {
	Providers []struct {
		ID           string   `yaml:"id"`
		Type         string   `yaml:"type"`
		Name         string   `yaml:"name"`
		Issuer       string   `yaml:"issuer"`
		ClientID     string   `yaml:"client_id"`
		ClientSecret string   `yaml:"client_secret"`
		Scopes       []string `yaml:"scopes"`
	} `yaml:"providers"`
}

// decodeStrict decodes a YAML file into v, refusing keys v does not have.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestExamples(t *testing.T) {
	t.Run("access-rules.yml", func(t *testing.T) {
		// The loader serve uses (ACCESS_RULES) takes the file as it is.
		if _, err := access.Load("examples/access-rules.yml"); err != nil {
			t.Fatalf("ACCESS_RULES loader refuses the example: %v", err)
		}
		var f accessRules
		decodeStrict(t, "examples/access-rules.yml", &f)
		ac := f.AccessControl
		policies := []string{"bypass", "one_factor", "two_factor", "deny"}
		if !slices.Contains(policies[1:], ac.DefaultPolicy) {
			t.Errorf("default_policy %q, want one_factor, two_factor or deny", ac.DefaultPolicy)
		}
		if len(ac.Rules) == 0 {
			t.Fatal("no rules")
		}
		seen := map[string]bool{}
		host := regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
		for i, r := range ac.Rules {
			seen[r.Policy] = true
			if !slices.Contains(policies, r.Policy) {
				t.Errorf("rule %d: policy %q, want one of %v", i+1, r.Policy, policies)
			}
			if len(r.Domain) == 0 {
				t.Errorf("rule %d: no domain", i+1)
			}
			for _, d := range r.Domain {
				if !host.MatchString(d) {
					t.Errorf("rule %d: domain %q is not a host name or *.host", i+1, d)
				}
			}
			for _, re := range r.Resources {
				if _, err := regexp.Compile(re); err != nil {
					t.Errorf("rule %d: resource %q: %v", i+1, re, err)
				}
			}
			for _, all := range r.Subject {
				for _, s := range all {
					if kind, name, ok := strings.Cut(s, ":"); !ok || (kind != "user" && kind != "group") || name == "" {
						t.Errorf("rule %d: subject %q, want user:NAME or group:NAME", i+1, s)
					}
				}
			}
			if r.Policy == "bypass" && len(r.Subject) > 0 {
				t.Errorf("rule %d: bypass with a subject can never match (a bypassed request has no user)", i+1)
			}
		}
		// The example shows every policy.
		for _, p := range []string{"bypass", "one_factor", "two_factor", "deny"} {
			if !seen[p] {
				t.Errorf("no rule shows policy %s", p)
			}
		}
	})

	t.Run("social-providers.yml", func(t *testing.T) {
		// The loader serve uses (SOCIAL_PROVIDERS) takes the file as it is.
		if _, err := upstream.LoadFile("examples/social-providers.yml"); err != nil {
			t.Fatalf("SOCIAL_PROVIDERS loader refuses the example: %v", err)
		}
		var f socialProviders
		decodeStrict(t, "examples/social-providers.yml", &f)
		if len(f.Providers) == 0 {
			t.Fatal("no providers")
		}
		ids := map[string]bool{}
		for _, p := range f.Providers {
			if !regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`).MatchString(p.ID) || ids[p.ID] {
				t.Errorf("provider id %q: want a unique lower-case name for URLs", p.ID)
			}
			ids[p.ID] = true
			if p.ClientID == "" || p.ClientSecret == "" || p.Name == "" {
				t.Errorf("provider %s: want name, client_id and client_secret", p.ID)
			}
			switch p.Type {
			case "github":
				if p.Issuer != "" {
					t.Errorf("provider %s: GitHub has no OpenID issuer, got %q", p.ID, p.Issuer)
				}
			case "", "oidc":
				if u, err := url.Parse(p.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
					t.Errorf("provider %s: issuer %q, want an https URL", p.ID, p.Issuer)
				}
				if !slices.Contains(p.Scopes, "openid") {
					t.Errorf("provider %s: scopes %v lack openid", p.ID, p.Scopes)
				}
			default:
				t.Errorf("provider %s: type %q, want github, or oidc (the default)", p.ID, p.Type)
			}
		}
	})
}
