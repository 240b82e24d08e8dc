package components

import (
	"context"
	"io"
	"testing"
)

// The pages rendered on the hottest paths: the signed-in home page and the
// anonymous login form. Run with go test -bench . -benchmem.

func BenchmarkHomePageSignedIn(b *testing.B) {
	p := Page{Title: "Home", User: &CurrentUser{Username: "alice"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := HomePage(p).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoginPage(b *testing.B) {
	p := Page{Title: "Sign in", Narrow: true}
	f := Form{Values: map[string]string{}, Errors: map[string][]string{}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := LoginPage(p, f, "", nil).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
