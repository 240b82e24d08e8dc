package models

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// TestEveryEventKindHasWords reads this package's source for every
// EventKind constant and wants each in EventKinds with words, once: a new
// kind cannot show up raw on the activity page, be missing from the admin's
// filter, or get no metric label.
func TestEveryEventKindHasWords(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	declared := map[EventKind]string{}
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || vs.Type == nil {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "EventKind" {
				return true
			}
			for i, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					declared[EventKind(s)] = vs.Names[i].Name
				}
			}
			return true
		})
	}
	if len(declared) < 30 {
		t.Fatalf("found %d EventKind constants; the parser missed them", len(declared))
	}
	seen := map[EventKind]bool{}
	for _, e := range EventKinds {
		if seen[e.Kind] {
			t.Errorf("%s is listed twice in EventKinds", e.Kind)
		}
		seen[e.Kind] = true
		if e.Words.Other == "" || e.Words.ID == "" {
			t.Errorf("%s has no words", e.Kind)
		}
		if _, ok := declared[e.Kind]; !ok {
			t.Errorf("EventKinds lists %s, which no constant declares", e.Kind)
		}
	}
	for kind, name := range declared {
		if !seen[kind] {
			t.Errorf("%s (%s) is not in EventKinds: give it words there", name, kind)
		}
	}
}
