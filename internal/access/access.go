// Package access reads forward auth's access rules (ACCESS_RULES: Authelia's
// access_control block, as it stands in Authelia's configuration.yml) and
// decides who may enter which URL. It is pure: no HTTP, no database.
//
// The rules are evaluated top to bottom and the first rule whose criteria
// all match wins; when none matches, default_policy decides. A rule's
// criteria are its domains (any matches: exact, or "*.example.com" for any
// subdomain), its resources (regular expressions on the path and query;
// any matches), its methods (any matches) and its subject (Authelia's
// list of lists: the outer list is OR, an inner list is AND; "user:NAME"
// and "group:NAME"). A key this package does not support stops loading
// with its line: it is never silently ignored, since a criterion ignored
// would widen a rule.
package access

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Policy is what a rule asks of the person entering.
type Policy int

// The policies, from the weakest to the strongest requirement.
const (
	Bypass Policy = iota
	OneFactor
	TwoFactor
	Deny
)

var policyNames = map[string]Policy{"bypass": Bypass, "one_factor": OneFactor, "two_factor": TwoFactor, "deny": Deny}

func (p Policy) String() string {
	switch p {
	case Bypass:
		return "bypass"
	case OneFactor:
		return "one_factor"
	case TwoFactor:
		return "two_factor"
	case Deny:
		return "deny"
	}
	return "unknown"
}

// Bounds on a rules file, so a hostile or mistaken one cannot exhaust
// memory at load or make every check slow.
const (
	MaxFileSize    = 1 << 20
	MaxRules       = 1000
	MaxListItems   = 200  // domains, resources, methods or subjects of one rule
	MaxPatternSize = 1000 // bytes of one resource regular expression
)

// Rule is one entry of rules.
type Rule struct {
	Index     int // 0-based position in the file
	Line      int
	Domains   []string         // lower-case; "*.x" means any subdomain of x
	Resources []*regexp.Regexp // nil: every path
	Methods   []string         // nil: every method
	Subjects  [][]string       // OR of ANDs; nil: everyone
	Policy    Policy
}

// Rules is a loaded rules file.
type Rules struct {
	Default Policy
	Rules   []Rule
}

// Default is the rule set used when ACCESS_RULES is unset: every signed-in
// active user may enter (oauth2-proxy's default).
func Default() *Rules { return &Rules{Default: OneFactor} }

// Subject is the person asking; nil is someone not signed in.
type Subject struct {
	Username string
	Groups   []string
}

// Request is what is asked for.
type Request struct {
	Host   string // with or without a port
	Path   string // path and query, as sent
	Method string
}

// DefaultRule is Decision.Rule when no rule matched.
const DefaultRule = -1

// Decision is the outcome for one request.
type Decision struct {
	Policy Policy
	// Rule is the index of the rule that decided, or DefaultRule.
	Rule int
	// NeedsSubject: the request is anonymous and a rule matched on
	// everything but its subject, so the person must sign in before the
	// rules can decide (Policy is then OneFactor).
	NeedsSubject bool
}

// Decide returns the policy for req asked by subj (nil when not signed in).
func (r *Rules) Decide(req Request, subj *Subject) Decision {
	host := normalizeHost(req.Host)
	for i := range r.Rules {
		rule := &r.Rules[i]
		if !rule.matchObject(host, req.Path, req.Method) {
			continue
		}
		if len(rule.Subjects) == 0 {
			return Decision{Policy: rule.Policy, Rule: i}
		}
		if subj == nil {
			return Decision{Policy: OneFactor, Rule: i, NeedsSubject: true}
		}
		if rule.matchSubject(subj) {
			return Decision{Policy: rule.Policy, Rule: i}
		}
	}
	return Decision{Policy: r.Default, Rule: DefaultRule}
}

// normalizeHost lower-cases host and drops a port and a final dot.
func normalizeHost(host string) string {
	host = strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}

func (rule *Rule) matchObject(host, path, method string) bool {
	if len(rule.Domains) > 0 && !matchDomain(rule.Domains, host) {
		return false
	}
	if len(rule.Methods) > 0 && !contains(rule.Methods, strings.ToUpper(method)) {
		return false
	}
	if len(rule.Resources) > 0 {
		ok := false
		for _, re := range rule.Resources {
			if re.MatchString(path) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchDomain(domains []string, host string) bool {
	for _, d := range domains {
		if suffix, ok := strings.CutPrefix(d, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == d {
			return true
		}
	}
	return false
}

func (rule *Rule) matchSubject(s *Subject) bool {
	for _, all := range rule.Subjects {
		ok := true
		for _, want := range all {
			if !s.is(want) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (s *Subject) is(want string) bool {
	if name, ok := strings.CutPrefix(want, "user:"); ok {
		return s.Username == name
	}
	name, _ := strings.CutPrefix(want, "group:")
	return contains(s.Groups, name)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Error is a mistake in a rules file, with the line it is on.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	return &Error{Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// Load reads and parses the rules file at path.
func Load(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitReader{f, MaxFileSize + 1}); err != nil {
		return nil, err
	}
	return Parse(buf.Bytes())
}

type limitReader struct {
	f *os.File
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errFileTooBig
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

var errFileTooBig = fmt.Errorf("the file is larger than %d bytes", MaxFileSize)

// Parse parses a rules file: a top-level access_control key holding
// default_policy and rules.
func Parse(data []byte) (*Rules, error) {
	if len(data) > MaxFileSize {
		return nil, errFileTooBig
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "the file is empty: it must hold an access_control block"}
		}
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errAt(&extra, "only one YAML document is allowed")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	top, err := mapping(root, "the file")
	if err != nil {
		return nil, err
	}
	var ac *yaml.Node
	for _, kv := range top {
		if kv.key != "access_control" {
			return nil, errAt(kv.k, "unknown key %q: the file holds only access_control", kv.key)
		}
		ac = kv.v
	}
	if ac == nil {
		return nil, errAt(root, "no access_control block")
	}
	fields, err := mapping(ac, "access_control")
	if err != nil {
		return nil, err
	}
	rules := &Rules{Default: Deny}
	for _, kv := range fields {
		switch kv.key {
		case "default_policy":
			if rules.Default, err = policy(kv.v); err != nil {
				return nil, err
			}
		case "rules":
			if rules.Rules, err = parseRules(kv.v); err != nil {
				return nil, err
			}
		default:
			return nil, errAt(kv.k, "unsupported key %q in access_control (supported: default_policy, rules)", kv.key)
		}
	}
	return rules, nil
}

type keyValue struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the pairs of a mapping node, refusing duplicate keys.
func mapping(n *yaml.Node, what string) ([]keyValue, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a mapping of keys to values", what)
	}
	out := make([]keyValue, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, "a key in %s must be a word", what)
		}
		if seen[k.Value] {
			return nil, errAt(k, "key %q appears twice in %s", k.Value, what)
		}
		seen[k.Value] = true
		out = append(out, keyValue{key: k.Value, k: k, v: n.Content[i+1]})
	}
	return out, nil
}

// deref follows an alias to its anchor.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func policy(n *yaml.Node) (Policy, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		if p, ok := policyNames[n.Value]; ok {
			return p, nil
		}
	}
	return 0, errAt(n, "policy must be bypass, one_factor, two_factor or deny (got %q)", n.Value)
}

// strings returns a scalar or a list of scalars as a list.
func stringList(n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil, errAt(n, "%s is empty", what)
		}
		return []*yaml.Node{n}, nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, errAt(n, "%s is an empty list", what)
		}
		if len(n.Content) > MaxListItems {
			return nil, errAt(n, "%s has more than %d entries", what, MaxListItems)
		}
		out := make([]*yaml.Node, 0, len(n.Content))
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" || c.Value == "" {
				return nil, errAt(c, "each entry of %s must be a non-empty string", what)
			}
			out = append(out, c)
		}
		return out, nil
	}
	return nil, errAt(n, "%s must be a string or a list of strings", what)
}

func parseRules(n *yaml.Node) ([]Rule, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "rules must be a list")
	}
	if len(n.Content) > MaxRules {
		return nil, errAt(n, "more than %d rules", MaxRules)
	}
	out := make([]Rule, 0, len(n.Content))
	for i, rn := range n.Content {
		r, err := parseRule(rn, i)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

var methodNames = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodConnect: true, http.MethodOptions: true, http.MethodTrace: true,
	"COPY": true, "LOCK": true, "MKCOL": true, "MOVE": true, "PROPFIND": true, "PROPPATCH": true, "UNLOCK": true,
}

func parseRule(n *yaml.Node, index int) (Rule, error) {
	rn := deref(n)
	rule := Rule{Index: index, Line: rn.Line}
	what := fmt.Sprintf("rule %d", index+1)
	fields, err := mapping(rn, what)
	if err != nil {
		return rule, err
	}
	hasPolicy := false
	for _, kv := range fields {
		switch kv.key {
		case "domain":
			items, err := stringList(kv.v, "domain")
			if err != nil {
				return rule, err
			}
			for _, it := range items {
				d, err := domain(it)
				if err != nil {
					return rule, err
				}
				rule.Domains = append(rule.Domains, d)
			}
		case "resources":
			items, err := stringList(kv.v, "resources")
			if err != nil {
				return rule, err
			}
			for _, it := range items {
				if len(it.Value) > MaxPatternSize {
					return rule, errAt(it, "a resource pattern is longer than %d bytes", MaxPatternSize)
				}
				re, err := regexp.Compile(it.Value)
				if err != nil {
					return rule, errAt(it, "resource %q is not a valid regular expression: %v", it.Value, unwrapRegexp(err))
				}
				rule.Resources = append(rule.Resources, re)
			}
		case "methods":
			items, err := stringList(kv.v, "methods")
			if err != nil {
				return rule, err
			}
			for _, it := range items {
				m := strings.ToUpper(it.Value)
				if !methodNames[m] {
					return rule, errAt(it, "unknown method %q", it.Value)
				}
				rule.Methods = append(rule.Methods, m)
			}
		case "subject":
			if rule.Subjects, err = subjects(kv.v); err != nil {
				return rule, err
			}
		case "policy":
			if rule.Policy, err = policy(kv.v); err != nil {
				return rule, err
			}
			hasPolicy = true
		default:
			return rule, errAt(kv.k, "unsupported key %q in %s (supported: domain, resources, methods, subject, policy)", kv.key, what)
		}
	}
	if !hasPolicy {
		return rule, errAt(rn, "%s has no policy", what)
	}
	if len(rule.Domains) == 0 {
		return rule, errAt(rn, "%s has no domain", what)
	}
	if rule.Policy == Bypass && len(rule.Subjects) > 0 {
		return rule, errAt(rn, "%s: a bypass rule cannot have a subject (knowing who someone is needs a sign-in)", what)
	}
	return rule, nil
}

func unwrapRegexp(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// domainRE is a host name of letters, digits, hyphens and dots (IDNs are
// written in their xn-- form), optionally after "*.".
var domainRE = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

func domain(n *yaml.Node) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(n.Value), ".")
	if len(d) > 253 || !domainRE.MatchString(d) {
		return "", errAt(n, "domain %q is not a host name or *.host name (no scheme, port or path; {user} and {group} placeholders are not supported)", n.Value)
	}
	return d, nil
}

func subjects(n *yaml.Node) ([][]string, error) {
	n = deref(n)
	check := func(s *yaml.Node) (string, error) {
		v := s.Value
		name, okUser := strings.CutPrefix(v, "user:")
		if !okUser {
			name, _ = strings.CutPrefix(v, "group:")
		}
		if name == v || name == "" {
			return "", errAt(s, "subject %q must be user:NAME or group:NAME", v)
		}
		return v, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		items, err := stringList(n, "subject")
		if err != nil {
			return nil, err
		}
		s, err := check(items[0])
		if err != nil {
			return nil, err
		}
		return [][]string{{s}}, nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 || len(n.Content) > MaxListItems {
			return nil, errAt(n, "subject must have between 1 and %d entries", MaxListItems)
		}
		var out [][]string
		for _, c := range n.Content {
			items, err := stringList(c, "subject")
			if err != nil {
				return nil, err
			}
			var all []string
			for _, it := range items {
				s, err := check(it)
				if err != nil {
					return nil, err
				}
				all = append(all, s)
			}
			out = append(out, all)
		}
		return out, nil
	}
	return nil, errAt(n, "subject must be a string, a list, or a list of lists")
}
