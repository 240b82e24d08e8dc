package handlers

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hostileBody is a urlencoded body of just under 1 MB (the default body
// cap) whose values are sent raw: the form decoder passes bytes that need no
// escaping through, so each value is as large as the body allows.
func hostileBody(pairs ...string) string {
	const budget = 1<<20 - 1024
	per := budget / (len(pairs) / 2)
	var b strings.Builder
	for i := 0; i < len(pairs); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pairs[i] + "=")
		v := pairs[i+1]
		if strings.HasSuffix(v, "*") { // repeat to fill this value's share
			unit := strings.TrimSuffix(v, "*")
			v = strings.Repeat(unit, (per-len(pairs[i])-2)/len(unit))
		}
		b.WriteString(v)
	}
	return b.String()
}

// TestSignupHostileBodies: the live checks and the final sign-up POST answer
// 1 MB hostile values (a letter NFKC expands 18-fold, an address of half a
// million parts, a 1 MB password) at once with field errors, and a request
// costs a small multiple of its body, not hundreds of MB of normalising and
// comparing. The validators' own bounds are in models; this is the stack.
func TestSignupHostileBodies(t *testing.T) {
	ts := newTestServer(t)
	const good = "correct horse battery"
	cases := []struct {
		name, path, body string
		status           int
		wantErr          map[string]string // field -> part of its message
		wantOK           string            // live check note
	}{
		{"live username fdfa", "/accounts/signup/validate/username/",
			hostileBody("username", "\uFDFA*"), 200, map[string]string{"username": "at most 150 characters"}, ""},
		{"live email at-dot", "/accounts/signup/validate/email/",
			hostileBody("email", "@.*"), 200, map[string]string{"email": "at most 254 characters"}, ""},
		{"live password1 beside hostile name and address", "/accounts/signup/validate/password1/",
			hostileBody("username", "\uFDFA*", "email", "a@.*", "password1", good), 200, nil, "This password meets the rules."},
		{"live password1 similar-looking hostile name", "/accounts/signup/validate/password1/",
			hostileBody("username", "a*", "email", "a.*", "password1", "aaaaaaaaaaaa"), 200, nil, "This password meets the rules."},
		{"live password1 1 MB", "/accounts/signup/validate/password1/",
			hostileBody("password1", "a*"), 200, map[string]string{"password1": "too long"}, ""},
		{"live password2 1 MB", "/accounts/signup/validate/password2/",
			hostileBody("password1", "a*", "password2", "a*"), 200, nil, "The passwords match."},
		{"final post", "/accounts/signup/",
			hostileBody("username", "\uFDFA*", "email", "a@.*", "password1", "b*", "password2", "b*"), 422,
			map[string]string{"username": "at most 150", "email": "at most 254", "password1": "too long"}, ""},
		{"final post similar parts", "/accounts/signup/",
			hostileBody("username", "ab*", "email", "ab@.*", "password1", "abababababab", "password2", "abababababab"), 422,
			map[string]string{"username": "at most 150", "email": "at most 254"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.client(t)
			req := c.newRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			res := c.do(req)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			wantStatus(t, res, tc.status)
			doc := res.doc(t)
			for field, want := range tc.wantErr {
				if got := doc.Find("#id_" + field + "-msg .error").Text(); !strings.Contains(got, want) {
					t.Errorf("%s: got error %q, want one with %q", field, got, want)
				}
			}
			if tc.wantOK != "" {
				if got := doc.Find(".ok").Text(); got != tc.wantOK {
					t.Errorf("got note %q, want %q", got, tc.wantOK)
				}
			}
			// The body is read, parsed and (on the final POST) shown back
			// once: a few MB. Normalising or splitting it costs 20-100x.
			// Allocation, not wall-clock time, is the bound: it does not
			// move with the machine's load.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %v, %d KB allocated", tc.name, took, alloc>>10)
			if limit := uint64(12 << 20); alloc > limit {
				t.Errorf("allocated %d MB serving a 1 MB body, want at most %d MB", alloc>>20, limit>>20)
			}
		})
	}
}
