package components

import (
	"fmt"
	"go/scanner"
	"go/token"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	parser "github.com/a-h/templ/parser/v2"
)

// wordRE finds a word of two or more letters: text a person reads.
var wordRE = regexp.MustCompile(`\pL{2,}`)

// untranslatedOK is literal text a template may hold in every language:
// names and codes that are the same everywhere.
var untranslatedOK = map[string]bool{
	"Gatehouse": true, // the product's name
	"OpenID":    true,
	"GitHub":    true,
	"QR":        true,
	"UTC":       true,
	"TOTP":      true,
	"JSON":      true,
	"sub":       true, // claim names shown as code
}

// readAttrs are attributes people read (or hear): their constant values
// must go through T like text.
var readAttrs = map[string]bool{"placeholder": true, "title": true, "aria-label": true, "alt": true, "data-label": true}

// Every piece of text in every template goes through the localizer: a
// literal word between tags, or in an attribute a person reads, is English
// on every page whatever the language, and the per-language page tests only
// see pages they visit. This walks every .templ file's syntax tree (templ's
// own parser) and fails on such literals.
func TestTemplatesHaveNoLiteralText(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		tf, err := parser.Parse(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, l := range literals(reflect.ValueOf(tf)) {
			t.Errorf("%s:%s", f, l)
		}
	}
}

// literals walks any value of templ's syntax tree and returns the
// readable literal text in it, with its line.
func literals(v reflect.Value) []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
			return
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
			return
		case reflect.Struct:
		default:
			return
		}
		switch n := v.Interface().(type) {
		case parser.Text:
			if s := readable(n.Value); s != "" {
				out = append(out, fmt.Sprintf("%d: text %q", n.Range.From.Line+1, s))
			}
			return
		case parser.ConstantAttribute:
			if k, ok := n.Key.(parser.ConstantAttributeKey); ok && readAttrs[k.Name] {
				if s := readable(n.Value); s != "" {
					out = append(out, fmt.Sprintf("%d: %s=%q", k.NameRange.From.Line+1, k.Name, s))
				}
			}
			return
		case parser.Expression:
			for _, l := range goLiterals(n.Value) {
				out = append(out, fmt.Sprintf("%d: Go string %s", n.Range.From.Line+1, l))
			}
			return
		case parser.RawElement, parser.ScriptElement, parser.GoComment, parser.HTMLComment, parser.CSSTemplate, parser.ScriptTemplate:
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i))
			}
		}
	}
	walk(v)
	return out
}

// readable is s when it holds a word that is not in untranslatedOK.
func readable(s string) string {
	s = strings.TrimSpace(html.UnescapeString(s))
	for _, w := range wordRE.FindAllString(s, -1) {
		if !untranslatedOK[w] {
			return s
		}
	}
	return ""
}

// sentenceRE is a Go string literal people would read: one with a
// capitalised word. Identifiers, test IDs, paths, field names and htmx
// triggers ("username", "session-row", "/x/", "input changed") are not;
// nor is a map key (a literal followed by ":", as in data maps).
var sentenceRE = regexp.MustCompile(`(^|[^\pL])\p{Lu}\p{Ll}+`)

// goLiterals are the readable string literals of Go source src that are
// not the text of an i18n.Message (after ID:, Other:, One:, …).
func goLiterals(src string) []string {
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	s.Init(file, []byte(src), nil, 0)
	var out []string
	var prev1, prev2 string // the two tokens before
	pending := ""           // a readable literal, kept unless a ":" follows
	for {
		_, tok, lit := s.Scan()
		if pending != "" && tok != token.COLON {
			out = append(out, pending)
		}
		pending = ""
		if tok == token.EOF {
			break
		}
		if tok == token.STRING {
			v, err := strconv.Unquote(lit)
			inMessage := prev1 == ":" && (prev2 == "ID" || prev2 == "Other" || prev2 == "One" || prev2 == "Few" || prev2 == "Many" || prev2 == "Two" || prev2 == "Zero" || prev2 == "Description")
			// textWith(i18n.Message{…}, "Name", value): the placeholder's
			// name, right after the message.
			inMessage = inMessage || prev1 == "," && prev2 == "}"
			if err == nil && !inMessage && readable(v) != "" && sentenceRE.MatchString(v) {
				pending = strconv.Quote(v)
			}
		}
		text := lit
		if text == "" {
			text = tok.String()
		}
		prev2, prev1 = prev1, text
	}
	return out
}

// goLiteralsOK are the components' Go files' literals that are not text
// for people (formats read by machines, CSS, …), by file.
var goLiteralsOK = map[string]bool{
	// The pattern and prefix errorText recognises the invisible-character
	// message by (its translation is invisibleCharMsg).
	`errortext.go "^Enter a valid username\\. This value contains an invisible character \\((U\\+[0-9A-F]{4,6})\\)\\.$"`: true,
	`errortext.go "Enter a valid username. This value contains"`:                                                         true,
}

// The components' own Go files (view models and helpers) hold no English
// sentence outside an i18n.Message either.
func TestComponentsGoHaveNoLiteralText(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range goLiterals(string(src)) {
			if !goLiteralsOK[f+" "+l] {
				t.Errorf("%s: Go string %s", f, l)
			}
		}
	}
}
