package mail

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"gatehouse/models"
)

// TestEveryOutboxKindComposes: every mail kind the flows queue has its one
// entry in the composers table (the job KindResetRequest excepted), and
// nothing in the table is a kind the outbox does not know. The kinds that
// need no token render here with a plain payload.
func TestEveryOutboxKindComposes(t *testing.T) {
	known := map[string]bool{}
	for _, k := range models.OutboxKinds {
		known[k] = true
		if models.IsJob(k) {
			if _, ok := composers[k]; ok {
				t.Errorf("%s is a job, yet has a mail composer", k)
			}
			continue
		}
		if _, ok := composers[k]; !ok {
			t.Errorf("outbox kind %q has no composer: its mails would fail as unknown", k)
		}
	}
	for k := range composers {
		if !known[k] {
			t.Errorf("composer for %q, which is not in models.OutboxKinds", k)
		}
	}
	w := &Worker{baseURL: "https://gatehouse.example"}
	for _, k := range []string{models.KindPasswordChanged, models.KindEmailChanged, models.KindMFAChanged,
		models.KindRecoveryCodeUsed, models.KindEmailChangeRequested, models.KindNewDevice, models.KindAccountDeleted} {
		m := &models.OutboxMessage{Kind: k, Recipient: "alice@example.com", Payload: `{"username":"alice","when":"2026-12-04T10:00:00Z"}`}
		msg, err := w.compose(context.Background(), m)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if msg.Subject == "" || !strings.Contains(msg.Text, "alice") {
			t.Errorf("%s: subject %q, text without the username:\n%s", k, msg.Subject, msg.Text)
		}
	}
	if _, err := w.compose(context.Background(), &models.OutboxMessage{Kind: "no_such_kind"}); !errors.Is(err, errUnknownKind) {
		t.Errorf("unknown kind: got %v, want errUnknownKind", err)
	}
}

// englishPieces is the English catalogue's texts people read: whole
// messages, and the literal pieces (two words or more) of those with
// placeholders.
func englishPieces(t *testing.T) map[string]string {
	t.Helper()
	raw := map[string]any{}
	if _, err := toml.DecodeFile(filepath.Join("..", "internal", "locale", "locales", "active.en.toml"), &raw); err != nil {
		t.Fatal(err)
	}
	ph := regexp.MustCompile(`\{\{[^}]*\}\}`)
	out := map[string]string{}
	for id, v := range raw {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case map[string]any:
			s, _ = v["other"].(string)
		}
		for i, piece := range ph.Split(s, -1) {
			piece = strings.Trim(piece, " ,.:;!?()“”«»—–-…")
			if len(piece) >= 8 && strings.Contains(piece, " ") {
				out[id+"#"+strconv.Itoa(i)] = piece
			}
		}
	}
	return out
}

// Every mail of the outbox, composed from a payload for a German, French
// or Spanish reader, holds no English sentence of the catalogue in its
// subject, text or HTML; the English one does (the check can fail). The
// mails with links are composed by their flows' tests (they need a
// database for their tokens); these are the others.
func TestEveryMailInItsLanguage(t *testing.T) {
	en := englishPieces(t)
	w := &Worker{baseURL: "https://gatehouse.example"}
	payloads := map[string]string{
		models.KindPasswordChanged:      `{"username":"alice","when":"2026-12-04T10:00:00Z","reset":"1","factors_removed":"1","factors":"an authenticator app and 3 recovery codes","factor_totp":"true","factor_passkeys":"2","factor_codes":"3"}`,
		models.KindEmailChanged:         `{"username":"alice","when":"2026-12-04T10:00:00Z","by":"staff"}`,
		models.KindMFAChanged:           `{"username":"alice","when":"2026-12-04T10:00:00Z","change":"added","what":"a passkey named “Laptop”","factor":"passkey","name":"Laptop","by":"you"}`,
		models.KindRecoveryCodeUsed:     `{"username":"alice","when":"2026-12-04T10:00:00Z","left":"1","ip":"203.0.113.9"}`,
		models.KindEmailChangeRequested: `{"username":"alice","when":"2026-12-04T10:00:00Z","new":"new@example.com"}`,
		models.KindNewDevice:            `{"username":"alice","when":"2026-12-04T10:00:00Z","ip":"203.0.113.9","browser":"Unknown browser on unknown system","agent":"Unknown browser","system":"unknown system","via":"Corp SSO"}`,
		models.KindAccountDeleted:       `{"username":"alice","when":"2026-12-04T10:00:00Z"}`,
	}
	for _, lang := range []string{"en", "de", "fr", "es"} {
		for kind, p := range payloads {
			var d map[string]any
			if err := json.Unmarshal([]byte(p), &d); err != nil {
				t.Fatal(err)
			}
			d["lang"] = lang
			b, _ := json.Marshal(d)
			msg, err := w.compose(context.Background(), &models.OutboxMessage{Kind: kind, Recipient: "alice@example.com", Payload: string(b)})
			if err != nil {
				t.Fatalf("%s %s: %v", lang, kind, err)
			}
			if !strings.Contains(msg.HTML, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: HTML not in its language", lang, kind)
			}
			all := msg.Subject + "\n" + msg.Text + "\n" + html.UnescapeString(msg.HTML)
			for _, l := range strings.Split(msg.Text, "\n") {
				if strings.HasPrefix(l, " ") || strings.HasSuffix(l, " ") {
					t.Errorf("%s %s: the text part has a line with a leading or trailing space: %q\n%s", lang, kind, l, msg.Text)
				}
			}
			var left []string
			for id, s := range en {
				if strings.Contains(all, s) {
					left = append(left, id+"="+s)
				}
			}
			if lang == "en" && len(left) == 0 {
				t.Errorf("en %s: no English catalogue text", kind)
			}
			if lang != "en" && len(left) > 0 {
				t.Errorf("%s %s: English left: %q\n%s", lang, kind, left, msg.Text)
			}
		}
	}
}
