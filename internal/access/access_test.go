package access

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const designExample = `
access_control:
  default_policy: deny
  rules:
    - domain: public.example.com
      policy: bypass
    - domain: grafana.example.com
      subject: "group:ops"
      policy: two_factor
    - domain: "*.example.com"
      policy: one_factor
`

const fuller = `
# Authelia's block, copied as it stands.
access_control:
  default_policy: one_factor
  rules:
    - domain: ['api.example.com']
      resources: ['^/health$', '^/public/']
      methods: [GET, head]
      policy: bypass
    - domain: api.example.com
      resources:
        - '^/admin([/?].*)?$'
      subject:
        - 'user:root'
        - ['group:admin', 'group:ops']
      policy: two_factor
    - domain: api.example.com
      resources: '^/admin'
      policy: deny
    - domain: [docs.example.com, "*.docs.example.com"]
      subject: [user:ann, user:bob]
      policy: one_factor
    - domain: docs.example.com
      policy: deny
`

func TestDecide(t *testing.T) {
	design, err := Parse([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	full, err := Parse([]byte(fuller))
	if err != nil {
		t.Fatal(err)
	}
	ann := &Subject{Username: "ann"}
	ops := &Subject{Username: "olga", Groups: []string{"ops"}}
	admin := &Subject{Username: "adam", Groups: []string{"admin"}}
	adminOps := &Subject{Username: "ada", Groups: []string{"ops", "admin"}}
	root := &Subject{Username: "root"}
	for _, tc := range []struct {
		name   string
		rules  *Rules
		req    Request
		subj   *Subject
		policy Policy
		rule   int
		needs  bool
	}{
		{"bypass for anyone", design, Request{"public.example.com", "/x", "GET"}, nil, Bypass, 0, false},
		{"host is case-insensitive, port ignored", design, Request{"PUBLIC.Example.COM:8443", "/", "GET"}, nil, Bypass, 0, false},
		{"trailing dot", design, Request{"public.example.com.", "/", "GET"}, nil, Bypass, 0, false},
		{"anonymous on a subject rule must sign in", design, Request{"grafana.example.com", "/", "GET"}, nil, OneFactor, 1, true},
		{"group member gets two_factor", design, Request{"grafana.example.com", "/d", "GET"}, ops, TwoFactor, 1, false},
		{"non-member falls through to the wildcard", design, Request{"grafana.example.com", "/", "GET"}, ann, OneFactor, 2, false},
		{"wildcard covers deep subdomains", design, Request{"a.b.example.com", "/", "GET"}, ann, OneFactor, 2, false},
		{"wildcard excludes the apex", design, Request{"example.com", "/", "GET"}, ann, Deny, DefaultRule, false},
		{"look-alike suffix is not a subdomain", design, Request{"evil-example.com", "/", "GET"}, ann, Deny, DefaultRule, false},
		{"suffix after the domain", design, Request{"public.example.com.evil", "/", "GET"}, nil, Deny, DefaultRule, false},
		{"other host gets default", design, Request{"other.test", "/", "GET"}, ann, Deny, DefaultRule, false},
		{"empty host gets default", design, Request{"", "", ""}, nil, Deny, DefaultRule, false},

		{"resource + method bypass", full, Request{"api.example.com", "/health", "GET"}, nil, Bypass, 0, false},
		{"method is case-insensitive", full, Request{"api.example.com", "/health", "head"}, nil, Bypass, 0, false},
		{"method not listed", full, Request{"api.example.com", "/health", "POST"}, nil, OneFactor, DefaultRule, false},
		{"resource anchored", full, Request{"api.example.com", "/x/health", "GET"}, nil, OneFactor, DefaultRule, false},
		{"resource sees the query", full, Request{"api.example.com", "/admin?x=1", "GET"}, root, TwoFactor, 1, false},
		{"user subject", full, Request{"api.example.com", "/admin", "GET"}, root, TwoFactor, 1, false},
		{"AND of groups: one group is not enough", full, Request{"api.example.com", "/admin/", "GET"}, admin, Deny, 2, false},
		{"AND of groups: both", full, Request{"api.example.com", "/admin/", "GET"}, adminOps, TwoFactor, 1, false},
		{"user: does not match a group of that name", full, Request{"api.example.com", "/admin", "GET"}, &Subject{Username: "x", Groups: []string{"root"}}, Deny, 2, false},
		{"group: does not match a user of that name", full, Request{"api.example.com", "/admin", "GET"}, &Subject{Username: "admin"}, Deny, 2, false},
		{"anonymous on admin must sign in first", full, Request{"api.example.com", "/admin", "GET"}, nil, OneFactor, 1, true},
		{"OR of users", full, Request{"x.docs.example.com", "/", "GET"}, &Subject{Username: "bob"}, OneFactor, 3, false},
		{"OR of users, someone else", full, Request{"docs.example.com", "/", "GET"}, &Subject{Username: "carl"}, Deny, 4, false},
		{"names are case-sensitive", full, Request{"docs.example.com", "/", "GET"}, &Subject{Username: "Ann"}, Deny, 4, false},

		{"no rules: signed-in default", Default(), Request{"anything.test", "/", "GET"}, ann, OneFactor, DefaultRule, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.rules.Decide(tc.req, tc.subj)
			if d.Policy != tc.policy || d.Rule != tc.rule || d.NeedsSubject != tc.needs {
				t.Errorf("got %v rule %d needs %v, want %v rule %d needs %v", d.Policy, d.Rule, d.NeedsSubject, tc.policy, tc.rule, tc.needs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", "", 0, "empty"},
		{"only a comment", "# nothing\n", 0, "empty"},
		{"not a mapping", "- a\n- b\n", 1, "mapping"},
		{"no block", "foo: 1\n", 1, `unknown key "foo"`},
		{"whole Authelia config", "server:\n  address: x\naccess_control:\n  default_policy: deny\n", 1, `unknown key "server"`},
		{"unsupported access_control key", "access_control:\n  default_policy: deny\n  networks: []\n", 3, `unsupported key "networks"`},
		{"unsupported rule key", "access_control:\n  rules:\n    - domain: a.test\n      networks: internal\n      policy: deny\n", 4, `unsupported key "networks"`},
		{"domain_regex unsupported", "access_control:\n  rules:\n    - domain_regex: '^a'\n      policy: deny\n", 3, `unsupported key "domain_regex"`},
		{"query unsupported", "access_control:\n  rules:\n    - domain: a.test\n      query: [[{operator: present, key: x}]]\n      policy: deny\n", 4, `"query"`},
		{"bad policy", "access_control:\n  rules:\n    - domain: a.test\n      policy: allow\n", 4, "bypass, one_factor, two_factor or deny"},
		{"bad default policy", "access_control:\n  default_policy: maybe\n", 2, "policy must be"},
		{"no policy", "access_control:\n  rules:\n    - domain: a.test\n", 3, "no policy"},
		{"no domain", "access_control:\n  rules:\n    - policy: deny\n", 3, "no domain"},
		{"bad regex", "access_control:\n  rules:\n    - domain: a.test\n      resources: ['^/(']\n      policy: deny\n", 4, "not a valid regular expression"},
		{"huge regex", "access_control:\n  rules:\n    - domain: a.test\n      resources: ['" + strings.Repeat("a", MaxPatternSize+1) + "']\n      policy: deny\n", 4, "longer than"},
		{"bad subject", "access_control:\n  rules:\n    - domain: a.test\n      subject: ann\n      policy: deny\n", 4, "user:NAME or group:NAME"},
		{"empty subject name", "access_control:\n  rules:\n    - domain: a.test\n      subject: ['group:']\n      policy: deny\n", 4, "user:NAME"},
		{"nested too deep", "access_control:\n  rules:\n    - domain: a.test\n      subject: [[[user:a]]]\n      policy: deny\n", 4, "non-empty string"},
		{"subject as mapping", "access_control:\n  rules:\n    - domain: a.test\n      subject: {user: a}\n      policy: deny\n", 4, "subject must be"},
		{"bypass with subject", "access_control:\n  rules:\n    - domain: a.test\n      subject: user:a\n      policy: bypass\n", 3, "bypass rule cannot have a subject"},
		{"domain with scheme", "access_control:\n  rules:\n    - domain: https://a.test\n      policy: deny\n", 3, "not a host name"},
		{"domain with port", "access_control:\n  rules:\n    - domain: a.test:443\n      policy: deny\n", 3, "not a host name"},
		{"placeholder domain", "access_control:\n  rules:\n    - domain: '{user}.a.test'\n      policy: deny\n", 3, "placeholders"},
		{"middle wildcard", "access_control:\n  rules:\n    - domain: 'a.*.test'\n      policy: deny\n", 3, "not a host name"},
		{"empty domain list", "access_control:\n  rules:\n    - domain: []\n      policy: deny\n", 3, "empty list"},
		{"bad method", "access_control:\n  rules:\n    - domain: a.test\n      methods: [FETCH]\n      policy: deny\n", 4, `unknown method "FETCH"`},
		{"duplicate key", "access_control:\n  default_policy: deny\n  default_policy: bypass\n", 3, "appears twice"},
		{"rules not a list", "access_control:\n  rules: {a: b}\n", 2, "rules must be a list"},
		{"tab indentation", "access_control:\n\trules: []\n", 0, "line 2"},
		{"two documents", "access_control: {}\n---\naccess_control: {}\n", 2, "one YAML document"},
		{"binary junk", "\x00\x01\x02\xff", 0, ""},
		{"too many rules", "access_control:\n  rules:\n" + strings.Repeat("    - {domain: a.test, policy: deny}\n", MaxRules+1), 3, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("got no error")
			}
			var perr *Error
			if !errors.As(err, &perr) && tc.line > 0 {
				t.Fatalf("got %T %v, want an *Error", err, err)
			}
			if tc.line > 0 && perr.Line != tc.line {
				t.Errorf("got line %d (%v), want line %d", perr.Line, err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestParseHostile: inputs built to be slow or big are refused or parsed
// quickly.
func TestParseHostile(t *testing.T) {
	cases := map[string]string{
		"billion laughs": `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
access_control: {rules: *f}
`,
		"too big":       "access_control:\n  rules: []\n" + strings.Repeat("# x\n", MaxFileSize/4+1),
		"deep nesting":  "access_control: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
		"long line":     "access_control:\n  default_policy: " + strings.Repeat("x", MaxFileSize-40),
		"many subjects": "access_control:\n  rules:\n    - domain: a.test\n      policy: deny\n      subject: [" + strings.Repeat("user:a,", MaxListItems+1) + "user:a]\n",
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse([]byte(y))
			if err == nil {
				t.Error("got no error")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestAnchorsAndAliases(t *testing.T) {
	r, err := Parse([]byte(`
access_control:
  default_policy: deny
  rules:
    - domain: &apps ["a.test", "*.b.test"]
      policy: one_factor
    - domain: *apps
      policy: deny
`))
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Decide(Request{Host: "x.b.test"}, &Subject{Username: "u"}); d.Policy != OneFactor || d.Rule != 0 {
		t.Errorf("got %+v", d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(p, []byte(designExample), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(p)
	if err != nil || len(r.Rules) != 3 || r.Rules[1].Line != 7 {
		t.Fatalf("Load: %v %+v", err, r)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("Load of a big file: got %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("Load of a missing file: got no error")
	}
}

func BenchmarkDecide(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("access_control:\n  rules:\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "    - {domain: app%d.example.com, resources: ['^/api/'], subject: 'group:g%d', policy: two_factor}\n", i, i)
	}
	sb.WriteString("    - {domain: '*.example.com', policy: one_factor}\n")
	r, err := Parse([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	s := &Subject{Username: "u", Groups: []string{"a", "b"}}
	for b.Loop() {
		r.Decide(Request{Host: "zz.example.com", Path: "/api/x", Method: "GET"}, s)
	}
}
