package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The outbox: e-mails and other deferred work are rows written in the same
// transaction as the change that causes them, so a crash or a deploy loses
// none. A worker (mail.Worker, started by main) claims due rows with a
// lease, does the work and marks them sent; a row whose worker died is
// claimed again when its lease runs out. Rows that fail for good stay, with
// their error, for operators to see and count.
//
// Delivery is at least once: a crash after the mail server accepted a
// message and before the row is marked sent sends it again on restart.
//
// Messages that carry a one-time link hold no token: the worker issues the
// token when it sends (PrepareToken), voiding the one an earlier attempt
// issued, so no token is ever stored in clear.

// Outbox message kinds.
const (
	// KindResetRequest is a job, not a mail: a reset asked for by address.
	// The request path does no look-up; the worker finds the accounts.
	KindResetRequest = "reset_request"
	// KindPasswordReset mails a reset link (token issued at send time).
	KindPasswordReset = "password_reset"
	// KindPasswordChanged tells a user their password was changed.
	KindPasswordChanged = "password_changed"
	// KindEmailChanged tells the old address that the account's address
	// was changed.
	KindEmailChanged = "email_changed"
)

// OutboxMessage is one row of the outbox.
type OutboxMessage struct {
	ID   uint   `gorm:"primaryKey"`
	Kind string `gorm:"size:64;not null"`
	// UserID is the account the message is about (no foreign key: a
	// goodbye mail outlives the account).
	UserID    *uint  `gorm:"index"`
	Recipient string `gorm:"size:254;not null;default:''"`
	// Payload is a JSON object of strings: what the template needs.
	Payload       string    `gorm:"type:text;not null;default:'{}'"`
	Attempts      int       `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_outbox_due,priority:2"`
	ClaimedUntil  *time.Time
	// SentAt is set when the work is done; FailedAt when it failed for
	// good. Pending rows have neither.
	SentAt    *time.Time `gorm:"index:idx_outbox_due,priority:1"`
	FailedAt  *time.Time
	LastError string    `gorm:"size:512;not null;default:''"`
	CreatedAt time.Time `gorm:"not null;index"`
}

func init() { allModels = append(allModels, &OutboxMessage{}) }

// Data decodes the payload (an empty map when it cannot be read).
func (m *OutboxMessage) Data() map[string]string {
	d := map[string]string{}
	_ = json.Unmarshal([]byte(m.Payload), &d)
	return d
}

// ErrRecipientGone reports a message that should no longer be sent: its
// account is gone, inactive, or has another address now.
var ErrRecipientGone = errors.New("recipient no longer valid")

// enqueue writes a message inside tx; it is claimed once tx commits.
func enqueue(tx *gorm.DB, kind string, userID *uint, to string, data map[string]string) error {
	payload := []byte("{}")
	if len(data) > 0 {
		var err error
		if payload, err = json.Marshal(data); err != nil {
			return fmt.Errorf("encode outbox payload: %w", err)
		}
	}
	now := time.Now().UTC()
	return tx.Create(&OutboxMessage{Kind: kind, UserID: userID, Recipient: to, Payload: string(payload),
		NextAttemptAt: now, CreatedAt: now}).Error
}

// Enqueue writes a message on its own, for work that accompanies no other
// write (and for tests); flows enqueue inside their own transaction.
func (o *Outbox) Enqueue(ctx context.Context, kind string, userID *uint, to string, data map[string]string) error {
	err := enqueue(o.db.WithContext(ctx), kind, userID, to, data)
	if err == nil {
		o.nudge()
	}
	return dbErr("enqueue", err)
}

// Outbox holds the outbox operations the worker uses.
type Outbox struct {
	db *gorm.DB
	// wake is nudged after a commit that enqueued something, so the
	// worker in this process picks it up at once instead of at its next
	// poll.
	wake chan struct{}
}

// NewOutbox returns the outbox over db.
func NewOutbox(db *gorm.DB) *Outbox { return &Outbox{db: db, wake: make(chan struct{}, 1)} }

// Wake returns the channel nudged when this process enqueued work.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// nudge wakes the worker without blocking.
func (o *Outbox) nudge() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// dueMessage selects pending messages that are due and not claimed by a
// live worker (two arguments: now, now); idx_outbox_due serves it.
const dueMessage = "sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)"

// Claim takes up to n due messages for this worker for lease: pending,
// due, and not claimed by a live worker. It first looks for one with a
// plain indexed read, outside any transaction, and returns nothing when
// none is due: an idle worker polls without taking SQLite's only write
// lock (BEGIN IMMEDIATE) or opening a PostgreSQL transaction. The claim
// itself is unchanged: on PostgreSQL the rows are read FOR UPDATE SKIP
// LOCKED, so instances do not queue behind each other; on SQLite the write
// transaction serialises claims. Each claim is also a conditional UPDATE,
// so a row is never held by two workers at once. (The read can see a row
// another worker then claims first; the claim then takes nothing, as
// before.)
func (o *Outbox) Claim(ctx context.Context, n int, lease time.Duration) ([]OutboxMessage, error) {
	now := time.Now().UTC()
	var due []uint
	if err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where(dueMessage, now, now).
		Limit(1).Pluck("id", &due).Error; err != nil {
		return nil, dbErr("look for due outbox messages", err)
	}
	if len(due) == 0 {
		return nil, nil
	}
	var claimed []OutboxMessage
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []OutboxMessage
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where(dueMessage, now, now).
			Order("id").Limit(n).Find(&rows).Error
		if err != nil {
			return err
		}
		until := now.Add(lease)
		for _, r := range rows {
			res := tx.Model(&OutboxMessage{}).
				Where("id = ? AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)", r.ID, now).
				Updates(map[string]any{"claimed_until": until, "attempts": gorm.Expr("attempts + 1")})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				r.ClaimedUntil = &until
				r.Attempts++
				claimed = append(claimed, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, dbErr("claim outbox", err)
	}
	return claimed, nil
}

// MarkSent records that m was delivered.
func (o *Outbox) MarkSent(ctx context.Context, m *OutboxMessage) error {
	now := time.Now().UTC()
	up := map[string]any{"sent_at": now, "claimed_until": nil, "last_error": ""}
	if m.Kind == KindAccountDeleted {
		// The account is gone: once its goodbye is delivered, nothing
		// about the person stays.
		up["recipient"], up["payload"] = "", "{}"
	}
	err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ?", m.ID).Updates(up).Error
	return dbErr("mark outbox message sent", err)
}

// MarkFailed records a failed attempt: the message is retried at
// retryAt, or, when retryAt is zero, it has failed for good. The error text
// is kept (it never holds the message body).
func (o *Outbox) MarkFailed(ctx context.Context, m *OutboxMessage, cause error, retryAt time.Time) error {
	now := time.Now().UTC()
	up := map[string]any{"claimed_until": nil, "last_error": truncate(cause.Error(), 512)}
	if retryAt.IsZero() {
		up["failed_at"] = now
	} else {
		up["next_attempt_at"] = retryAt.UTC()
	}
	return dbErr("mark outbox message failed", o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ?", m.ID).Updates(up).Error)
}

// Release hands a claimed message back unsent (at shutdown), so the next
// worker takes it at once instead of after the lease.
func (o *Outbox) Release(ctx context.Context, m *OutboxMessage) error {
	err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ? AND sent_at IS NULL", m.ID).
		Updates(map[string]any{"claimed_until": nil, "attempts": gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END")}).Error
	return dbErr("release outbox message", err)
}

// OutboxStats counts the outbox by state.
type OutboxStats struct {
	Pending, Failed, Sent int64
}

// Stats counts pending, failed-for-good and sent messages.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	db := o.db.WithContext(ctx).Model(&OutboxMessage{})
	if err := db.Where("sent_at IS NULL AND failed_at IS NULL").Count(&s.Pending).Error; err != nil {
		return s, dbErr("count outbox", err)
	}
	if err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("failed_at IS NOT NULL").Count(&s.Failed).Error; err != nil {
		return s, dbErr("count outbox", err)
	}
	err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("sent_at IS NOT NULL").Count(&s.Sent).Error
	return s, dbErr("count outbox", err)
}

// Failed lists messages that failed for good, newest first (no payloads).
func (o *Outbox) Failed(ctx context.Context, limit int) ([]OutboxMessage, error) {
	var rows []OutboxMessage
	err := o.db.WithContext(ctx).Select("id", "kind", "user_id", "attempts", "failed_at", "last_error", "created_at").
		Where("failed_at IS NOT NULL").Order("id DESC").Limit(limit).Find(&rows).Error
	return rows, dbErr("list failed outbox messages", err)
}

// OutboxRetention is how long sent messages are kept (for counting and
// debugging) before the sweep deletes them; failed ones are kept 30 days.
const OutboxRetention = 24 * time.Hour

// DeleteOld removes sent messages older than OutboxRetention and failed ones
// older than 30 days.
func (o *Outbox) DeleteOld(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	res := o.db.WithContext(ctx).Where("(sent_at IS NOT NULL AND sent_at < ?) OR (failed_at IS NOT NULL AND failed_at < ?)",
		now.Add(-OutboxRetention), now.Add(-30*24*time.Hour)).Delete(&OutboxMessage{})
	return res.RowsAffected, dbErr("delete old outbox messages", res.Error)
}

// PrepareToken issues the one-time token a message carries, at send time:
// it re-reads the account, refuses (ErrRecipientGone) when it is gone,
// inactive or no longer has the message's address, and voids the token an
// earlier attempt of this message issued.
func (o *Outbox) PrepareToken(ctx context.Context, m *OutboxMessage, purpose string, ttl time.Duration) (string, error) {
	return o.prepareToken(ctx, m, TokenIssue{Purpose: purpose, TTL: ttl, Payload: m.Data()["payload"]}, m.Recipient)
}

// prepareToken issues ti for m's account inside a transaction that first
// checks the account is still there, active, and has the address
// wantEmail; a token an earlier attempt of m issued is voided.
func (o *Outbox) prepareToken(ctx context.Context, m *OutboxMessage, ti TokenIssue, wantEmail string) (string, error) {
	if m.UserID == nil {
		return "", ErrRecipientGone
	}
	var token string
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u User
		if err := tx.Take(&u, *m.UserID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrRecipientGone
			}
			return err
		}
		if !u.IsActive || u.Email != wantEmail {
			return ErrRecipientGone
		}
		ti.UserID, ti.OutboxID = u.ID, &m.ID
		var err error
		token, err = issueToken(tx, ti)
		return err
	})
	if errors.Is(err, ErrRecipientGone) {
		return "", err
	}
	return token, dbErr("issue token for mail", err)
}

// Sweep runs fn every interval until ctx ends, logging failures: the
// shape of every background clean-up.
func Sweep(ctx context.Context, interval time.Duration, log *slog.Logger, what string, fn func(context.Context) (int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := fn(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("sweep "+what, "err", err)
				continue
			}
			if n > 0 {
				log.Info("swept "+what, "count", n)
			}
		}
	}
}
