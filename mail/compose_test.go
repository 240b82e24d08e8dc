package mail

import (
	"context"
	"errors"
	"strings"
	"testing"

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
