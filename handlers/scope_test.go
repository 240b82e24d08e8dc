package handlers

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"gatehouse/internal/dbdeadline"
	"gatehouse/internal/locale"
	"gatehouse/models"
)

// The request scope answers each package's own lookup as the chain of
// context values it replaced did: the request ID, the client, the
// localizer once localize stored it (the parent's, or the default, before),
// the parent's other values; and it is the database deadline.
func TestRequestScopeValues(t *testing.T) {
	type parentKey struct{}
	de := locale.For("de")
	parent := locale.With(context.WithValue(context.Background(), parentKey{}, "kept"), de)
	client := models.ClientInfo{IP: "192.0.2.7", UserAgent: "scope-test"}
	fixed := func(*http.Request) models.ClientInfo { return client }
	s := newRequestScope(parent, "abc-123", nil, fixed, time.Hour)
	var ctx context.Context = s

	if got := RequestID(ctx); got != "abc-123" {
		t.Errorf("RequestID: got %q, want abc-123", got)
	}
	if got := models.ClientInfoOf(ctx); got != client {
		t.Errorf("ClientInfoOf: got %+v, want %+v", got, client)
	}
	if got := ctx.Value(parentKey{}); got != "kept" {
		t.Errorf("parent's value: got %v, want kept", got)
	}
	if got := locale.From(ctx); got != de {
		t.Errorf("localizer before localize: got %s, want the parent's de", got.Lang())
	}
	fr := locale.For("fr")
	s.loc.Store(fr)
	if got := locale.From(ctx); got != fr {
		t.Errorf("localizer after localize: got %s, want fr", got.Lang())
	}
	// A value added on top still wins, as with context.WithValue.
	if got := locale.From(locale.With(ctx, de)); got != de {
		t.Errorf("localizer added on top: got %s, want de", got.Lang())
	}
	if got := RequestID(newRequestScope(context.Background(), "", nil, fixed, time.Hour)); got != "" {
		t.Errorf("no ID: got %q", got)
	}
	if got := RequestID(newRequestScope(WithRequestID(context.Background(), "outer"), "", nil, fixed, time.Hour)); got != "outer" {
		t.Errorf("no ID of its own: got %q, want the parent's", got)
	}

	// The deadline: counting, pausable, ended by Cancel.
	if d, ok := ctx.Deadline(); !ok || time.Until(d) < 59*time.Minute {
		t.Errorf("Deadline: got %v %v, want about an hour from now", d, ok)
	}
	resume := dbdeadline.Pause(ctx)
	resume()
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err: got %v, want nil", err)
	}
	short := newRequestScope(context.Background(), "x", nil, fixed, 20*time.Millisecond)
	select {
	case <-short.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a scope's deadline never ended")
	}
	if !errors.Is(short.Err(), context.DeadlineExceeded) {
		t.Errorf("past the deadline: got %v, want DeadlineExceeded", short.Err())
	}
	s.Cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after Cancel: got %v, want Canceled", ctx.Err())
	}
}
