package models

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestLongCodedDetailKeepsItsParameters: a coded detail over the
// column's 512 bytes is cut without splitting an escape, so every
// parameter still decodes (the last one shortened) and the sentence has
// no hole, whichever byte of an escape the cut falls on.
func TestLongCodedDetailKeepsItsParameters(t *testing.T) {
	for pad := range 3 {
		e := AuthEvent{Detail: CodedDetail(DetailOIDCClientAdded, "by", "boss", "client", "c1", "name", "Long",
			"uris", strings.Repeat("x", pad)+strings.Repeat("/", 400))}
		e.splitDetail()
		if len(e.Detail) > 512 {
			t.Fatalf("pad %d: %d bytes stored, want at most 512", pad, len(e.Detail))
		}
		v, err := url.ParseQuery(e.Detail)
		if err != nil || v.Get("by") != "boss" || v.Get("client") != "c1" || !strings.HasPrefix(v.Get("uris"), strings.Repeat("x", pad)+"///") {
			t.Errorf("pad %d: parameters %v, %v", pad, v, err)
		}
		if got := EventDetail(context.Background(), &e); strings.Contains(got, "<no value>") || !strings.HasPrefix(got, "by boss: client c1 (Long) added") {
			t.Errorf("pad %d: shown as %q", pad, got)
		}
	}
}
