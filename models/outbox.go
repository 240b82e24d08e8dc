package models

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/internal/locale"
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
// Messages that carry a one-time link hold no token: the worker derives the
// token from the message when it sends (PrepareToken: an HMAC under a key
// from SECRET_KEY over the message's ID and queue time), storing only its
// hash, so every attempt of one message carries the same link and a
// duplicate delivery is harmless (still one use).
//
// A claim is held by a worker (ClaimedBy, its instance ID) for one attempt
// (Attempts): the worker renews the lease while it works and checks it
// still holds the claim before it sends and when it records the outcome.
// A message that cannot be delivered is retried with back-off for a while
// (MAIL_RETRY_FOR), then kept as failed until someone asks to send it
// again (Retry); one whose recipient is gone is dropped with the reason.

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
	// KindEmailChangeConfirm mails the change link to the new address
	// (token issued at send time).
	KindEmailChangeConfirm = "email_change_confirm"
	// KindEmailChangeRequested tells the current address that a change was
	// asked for, at once.
	KindEmailChangeRequested = "email_change_requested"
	// KindEmailVerify mails the verification link (token issued at send
	// time).
	KindEmailVerify = "email_verify"
	// KindAccountDeleted is the goodbye mail. The outbox has no foreign
	// key to users, so it outlives the account.
	KindAccountDeleted = "account_deleted"
	// KindNewDevice tells the account of a sign-in from a new browser.
	KindNewDevice = "new_device"
	// KindMFAChanged tells a user a factor was added or removed.
	KindMFAChanged = "mfa_changed"
	// KindRecoveryCodeUsed tells a user a recovery code was used to sign in.
	KindRecoveryCodeUsed = "recovery_code_used"
	// KindSocialChanged tells a user that sign-in through another provider
	// was connected to or disconnected from their account.
	KindSocialChanged = "social_changed"
	// KindOIDCBackchannelLogout is a job, not a mail: POST a signed logout
	// token to a client's back-channel logout URI (Recipient is the
	// client's ID; no user row, so it outlives a deleted account).
	KindOIDCBackchannelLogout = "oidc_backchannel_logout"
)

// IsJob reports whether kind is work the worker's jobs function does,
// not a mail.
func IsJob(kind string) bool {
	return kind == KindResetRequest || kind == KindOIDCBackchannelLogout
}

// OutboxKinds lists every outbox kind: the mails (mail.composers has one
// entry per mail kind) and the job KindResetRequest.
var OutboxKinds = []string{
	KindResetRequest, KindPasswordReset, KindPasswordChanged, KindEmailChanged, KindEmailChangeConfirm,
	KindEmailChangeRequested, KindEmailVerify, KindAccountDeleted, KindNewDevice, KindMFAChanged, KindRecoveryCodeUsed,
	KindSocialChanged, KindOIDCBackchannelLogout,
}

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
	// ClaimedBy is the instance ID of the worker holding (or last
	// holding) the claim.
	ClaimedBy string `gorm:"size:64;not null;default:''"`
	// SentAt is set when the work is done; FailedAt when it failed for
	// good (until someone retries it); DroppedAt when it was not sent on
	// purpose (LastError says why). Pending rows have none.
	SentAt    *time.Time `gorm:"index:idx_outbox_due,priority:1"`
	FailedAt  *time.Time `gorm:"index"`
	DroppedAt *time.Time
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
// account is gone, inactive, or has another address now. The worker drops
// such a message with the reason (a *RecipientGone wraps it).
var ErrRecipientGone = errors.New("recipient no longer valid")

// RecipientGone says why a message's recipient is no longer valid.
type RecipientGone struct{ Reason string }

func (e *RecipientGone) Error() string { return "recipient no longer valid: " + e.Reason }
func (e *RecipientGone) Unwrap() error { return ErrRecipientGone }

// ErrClaimLost reports that a worker no longer holds the claim on a
// message (its lease ran out and another worker took it, or it was
// handed back): it must not send it or record an outcome for it.
var ErrClaimLost = errors.New("outbox claim lost")

// Enqueue writes a message inside tx; it is claimed once tx commits.
//
// The recipient's language and time zone are decided here, when the row is
// written, and kept in the payload ("lang", "tz"): the recipient's saved
// language, else the language of the request that caused the message (the
// localizer its context carries); their saved time zone, else UTC.
func Enqueue(tx *gorm.DB, kind string, userID *uint, to string, data map[string]string) error {
	if data == nil {
		data = map[string]string{}
	}
	if data["lang"] == "" {
		var prefs struct{ Language, TimeZone string }
		if userID != nil {
			if err := tx.Model(&User{}).Select("language", "time_zone").Where("id = ?", *userID).Limit(1).Scan(&prefs).Error; err != nil {
				return fmt.Errorf("recipient language: %w", err)
			}
		}
		data["lang"] = prefs.Language
		if !locale.Supported(data["lang"]) {
			data["lang"] = locale.From(tx.Statement.Context).Lang()
		}
		if prefs.TimeZone != "" && data["tz"] == "" {
			data["tz"] = prefs.TimeZone
		}
	}
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
	err := Enqueue(o.db.WithContext(ctx), kind, userID, to, data)
	if err == nil {
		o.Nudge()
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
	// tokenKey derives the tokens of mailed links (tokenFor).
	tokenKey []byte
}

// NewOutbox returns the outbox over db; mail tokens are derived from a
// key random to this process until SetSecret sets one.
func NewOutbox(db *gorm.DB) *Outbox {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Outbox{db: db, wake: make(chan struct{}, 1), tokenKey: key}
}

// Wake returns the channel nudged when this process enqueued work.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// Nudge wakes the worker without blocking.
func (o *Outbox) Nudge() {
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
const dueMessage = "sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)"

// held matches the row of m while the claim m was given is still held:
// same worker, same attempt, unexpired, the message still pending.
func held(tx *gorm.DB, m *OutboxMessage, now time.Time) *gorm.DB {
	return tx.Model(&OutboxMessage{}).Where("id = ? AND claimed_by = ? AND attempts = ? AND claimed_until >= ? AND sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL",
		m.ID, m.ClaimedBy, m.Attempts, now)
}

// Claim takes up to n due messages for the worker by for lease: pending,
// due, and not claimed by a live worker. It first looks for one with a
// plain indexed read, outside any transaction, and returns nothing when
// none is due: an idle worker polls without taking SQLite's only write
// lock (BEGIN IMMEDIATE) or opening a PostgreSQL transaction. The claim
// itself: on PostgreSQL the rows are read FOR UPDATE SKIP LOCKED, so
// instances do not queue behind each other; on SQLite the write
// transaction serialises claims. Each claim is also a conditional UPDATE,
// so a row is never held by two workers at once. (The read can see a row
// another worker then claims first; the claim then takes nothing.)
func (o *Outbox) Claim(ctx context.Context, by string, n int, lease time.Duration) ([]OutboxMessage, error) {
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
				Updates(map[string]any{"claimed_until": until, "claimed_by": by, "attempts": gorm.Expr("attempts + 1")})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				r.ClaimedUntil, r.ClaimedBy = &until, by
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

// Renew extends the lease on m to lease from now if the worker still
// holds the claim, else it returns ErrClaimLost. The worker calls it just
// before it sends and then while the send runs.
func (o *Outbox) Renew(ctx context.Context, m *OutboxMessage, lease time.Duration) error {
	now := time.Now().UTC()
	until := now.Add(lease)
	res := held(o.db.WithContext(ctx), m, now).Update("claimed_until", until)
	if res.Error != nil {
		return dbErr("renew outbox claim", res.Error)
	}
	if res.RowsAffected != 1 {
		return ErrClaimLost
	}
	m.ClaimedUntil = &until
	return nil
}

// TakeBack hands back every lease the instance by still holds, for a
// worker starting under that instance ID: the process that held them is
// gone (instance IDs are one per running instance), so its messages go out
// now instead of after their leases.
func (o *Outbox) TakeBack(ctx context.Context, by string) (int64, error) {
	var ids []uint
	if err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("claimed_by = ? AND claimed_until IS NOT NULL AND sent_at IS NULL", by).
		Limit(1).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return 0, dbErr("look for outbox claims to take back", err) // a read first: no write lock on a start with none
	}
	res := o.db.WithContext(ctx).Model(&OutboxMessage{}).
		Where("claimed_by = ? AND claimed_until IS NOT NULL AND sent_at IS NULL", by).
		Update("claimed_until", nil)
	return res.RowsAffected, dbErr("take back outbox claims", res.Error)
}

// MarkSent records that m was delivered. The mail went out, so the row is
// marked sent even when the claim was lost meanwhile (a worker that took
// it over then sees it sent and does not send it again); ErrClaimLost
// then tells the caller so.
func (o *Outbox) MarkSent(ctx context.Context, m *OutboxMessage) error {
	now := time.Now().UTC()
	var lost bool
	up := map[string]any{"sent_at": now, "claimed_until": nil, "last_error": ""}
	if m.Kind == KindAccountDeleted {
		// The account is gone: once its goodbye is delivered, nothing
		// about the person stays.
		up["recipient"], up["payload"] = "", "{}"
	}
	if m.Kind == KindOIDCBackchannelLogout {
		// Delivered, it need not say whom it was about (the account may
		// be deleted).
		up["payload"] = "{}"
	}
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := held(tx, m, now).Updates(up)
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
		lost = true
		up["failed_at"], up["dropped_at"] = nil, nil
		return tx.Model(&OutboxMessage{}).Where("id = ? AND sent_at IS NULL", m.ID).Updates(up).Error
	})
	if err != nil {
		return dbErr("mark outbox message sent", err)
	}
	if lost {
		return ErrClaimLost
	}
	return nil
}

// MarkFailed records a failed attempt on a message whose claim the worker
// still holds (else ErrClaimLost): it is retried at retryAt, or, when
// retryAt is zero, it has failed for good. The error text is kept (it
// never holds the message body).
func (o *Outbox) MarkFailed(ctx context.Context, m *OutboxMessage, cause error, retryAt time.Time) error {
	now := time.Now().UTC()
	up := map[string]any{"claimed_until": nil, "last_error": truncate(cause.Error(), 512)}
	if retryAt.IsZero() {
		up["failed_at"] = now
	} else {
		up["next_attempt_at"] = retryAt.UTC()
	}
	return o.outcome("mark outbox message failed", ctx, m, up)
}

// Drop records that m will not be sent, and why (its recipient is gone):
// it is neither retried nor counted as failed.
func (o *Outbox) Drop(ctx context.Context, m *OutboxMessage, reason string) error {
	return o.outcome("drop outbox message", ctx, m, map[string]any{"claimed_until": nil, "dropped_at": time.Now().UTC(),
		"last_error": truncate("dropped: "+reason, 512)})
}

// outcome writes up to m's row if the worker still holds its claim.
func (o *Outbox) outcome(what string, ctx context.Context, m *OutboxMessage, up map[string]any) error {
	res := held(o.db.WithContext(ctx), m, time.Now().UTC()).Updates(up)
	if res.Error != nil {
		return dbErr(what, res.Error)
	}
	if res.RowsAffected != 1 {
		return ErrClaimLost
	}
	return nil
}

// Release hands a claimed message back unsent (at shutdown), so the next
// worker takes it at once instead of after the lease.
func (o *Outbox) Release(ctx context.Context, m *OutboxMessage) error {
	err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ? AND claimed_by = ? AND attempts = ? AND sent_at IS NULL", m.ID, m.ClaimedBy, m.Attempts).
		Updates(map[string]any{"claimed_until": nil, "attempts": gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END")}).Error
	return dbErr("release outbox message", err)
}

// Retry puts messages back in the queue to be sent now (retryMail),
// for the outbox command.
func (o *Outbox) Retry(ctx context.Context, ids []uint, allFailed bool) (int64, error) {
	if len(ids) == 0 && !allFailed {
		return 0, nil
	}
	var n int64
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		n, err = RetryMail(tx, ids, allFailed)
		return err
	})
	if err != nil {
		return 0, dbErr("retry outbox messages", err)
	}
	if n > 0 {
		o.Nudge()
	}
	return n, nil
}

// OutboxStats counts the outbox by state.
type OutboxStats struct {
	Pending, Failed, Sent, Dropped int64
}

// Stats counts pending, failed-for-good, sent and dropped messages.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	db := o.db.WithContext(ctx).Model(&OutboxMessage{})
	if err := db.Where("sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL").Count(&s.Pending).Error; err != nil {
		return s, dbErr("count outbox", err)
	}
	if err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("failed_at IS NOT NULL").Count(&s.Failed).Error; err != nil {
		return s, dbErr("count outbox", err)
	}
	if err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("dropped_at IS NOT NULL").Count(&s.Dropped).Error; err != nil {
		return s, dbErr("count outbox", err)
	}
	err := o.db.WithContext(ctx).Model(&OutboxMessage{}).Where("sent_at IS NOT NULL").Count(&s.Sent).Error
	return s, dbErr("count outbox", err)
}

// Failed lists messages that failed for good, newest first (no payloads).
func (o *Outbox) Failed(ctx context.Context, limit int) ([]OutboxMessage, error) {
	return o.List(ctx, true, limit)
}

// List lists the messages waiting to be sent (oldest first) or, with
// failed, those that failed for good (newest first), up to limit. Rows
// carry no payload: a listing never shows a body or a link.
func (o *Outbox) List(ctx context.Context, failed bool, limit int) ([]OutboxMessage, error) {
	var rows []OutboxMessage
	q := o.db.WithContext(ctx).Select("id", "kind", "user_id", "recipient", "attempts", "next_attempt_at", "claimed_until",
		"failed_at", "last_error", "created_at")
	if failed {
		q = q.Where("failed_at IS NOT NULL").Order("id DESC")
	} else {
		q = q.Where("sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL").Order("id")
	}
	err := q.Limit(limit).Find(&rows).Error
	return rows, dbErr("list outbox messages", err)
}

// OutboxRetention is how long sent messages are kept (for counting and
// debugging) before the sweep deletes them; failed ones are kept 30 days.
const OutboxRetention = 24 * time.Hour

// DeleteOld removes sent messages older than OutboxRetention and failed or
// dropped ones older than 30 days.
func (o *Outbox) DeleteOld(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	res := o.db.WithContext(ctx).Where("(sent_at IS NOT NULL AND sent_at < ?) OR (failed_at IS NOT NULL AND failed_at < ?) OR (dropped_at IS NOT NULL AND dropped_at < ?)",
		now.Add(-OutboxRetention), now.Add(-30*24*time.Hour), now.Add(-30*24*time.Hour)).Delete(&OutboxMessage{})
	return res.RowsAffected, dbErr("delete old outbox messages", res.Error)
}

// PrepareToken issues the one-time token a message carries, at send time:
// it re-reads the account, refuses (ErrRecipientGone) when it is gone,
// inactive or no longer has the message's address, and returns the
// message's token (see tokenFor): the same on every attempt.
func (o *Outbox) PrepareToken(ctx context.Context, m *OutboxMessage, purpose string, ttl time.Duration) (string, error) {
	return o.prepareToken(ctx, m, TokenIssue{Purpose: purpose, TTL: ttl, Payload: m.Data()["payload"]}, m.Recipient)
}

// prepareToken issues ti for m's account inside a transaction that first
// checks the account is still there, active, and has the address
// wantEmail. The token is derived from m, so a retried send carries the
// link an earlier attempt mailed (its expiry renewed while unused); a
// token of m that differs (another key, or m was retried by hand) is
// voided.
func (o *Outbox) prepareToken(ctx context.Context, m *OutboxMessage, ti TokenIssue, wantEmail string) (string, error) {
	if m.UserID == nil {
		return "", &RecipientGone{Reason: "the message names no account"}
	}
	var token string
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		u, err := recipientUser(tx, *m.UserID, wantEmail)
		if err != nil {
			return err
		}
		if !u.IsActive {
			return &RecipientGone{Reason: "the account is inactive"}
		}
		ti.UserID, ti.OutboxID = u.ID, &m.ID
		ti.Token = o.tokenFor(m)
		token, err = issueToken(tx, ti)
		return err
	})
	if errors.Is(err, ErrRecipientGone) {
		return "", err
	}
	return token, dbErr("issue token for mail", err)
}

// recipientUser reads the account a message goes to, or says why the
// message should be dropped: the account was deleted, or its address is
// no longer want.
func recipientUser(tx *gorm.DB, id uint, want string) (*User, error) {
	var u User
	if err := tx.Take(&u, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, &RecipientGone{Reason: "the account was deleted"}
		}
		return nil, err
	}
	if u.Email != want {
		return nil, &RecipientGone{Reason: "the account's address changed since the message was queued"}
	}
	return &u, nil
}

// toOldAddress are the kinds mailed on purpose to an address the account
// no longer has, or to an account that is gone: the worker does not drop
// them for that.
var toOldAddress = map[string]bool{KindEmailChanged: true, KindEmailChangeRequested: true, KindAccountDeleted: true}

// CheckRecipient returns a *RecipientGone when m should be dropped rather
// than sent: its account was deleted, or its address changed since m was
// queued. Kinds that go to a former address (toOldAddress) and messages
// about no account always pass.
func (o *Outbox) CheckRecipient(ctx context.Context, m *OutboxMessage) error {
	if m.UserID == nil || toOldAddress[m.Kind] {
		return nil
	}
	want := m.Recipient
	if m.Kind == KindEmailChangeConfirm {
		want = m.Data()["old"] // mailed to the new address; the account still has the old one
	}
	_, err := recipientUser(o.db.WithContext(ctx), *m.UserID, want)
	if errors.Is(err, ErrRecipientGone) {
		return err
	}
	return dbErr("check outbox recipient", err)
}

// SetSecret sets the key mail tokens are derived from (SECRET_KEY): with
// it, every instance and every restart derives the same link for a
// message. Without one (or one too short), the key is random per process,
// so attempts within a process share a link and a retry by another
// process mails a new one (voiding the old).
func (o *Outbox) SetSecret(secret string) {
	if len(secret) < MinSecretKeyLen {
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("gatehouse outbox tokens v1"))
	o.tokenKey = mac.Sum(nil)
}

// tokenFor derives m's one-time token: an HMAC over the message's ID and
// queue time (a retry by hand re-queues it, and so mails a new link).
func (o *Outbox) tokenFor(m *OutboxMessage) string {
	mac := hmac.New(sha256.New, o.tokenKey)
	fmt.Fprintf(mac, "outbox message %d queued %d", m.ID, m.CreatedAt.UnixNano())
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
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

// PrepareEmailChangeToken issues the token of a change link at send time.
// The account must be active and still have the address it had when the
// change was asked for; the token's payload is the new address (the
// message's recipient). An earlier attempt's token is voided.
func (o *Outbox) PrepareEmailChangeToken(ctx context.Context, m *OutboxMessage, ttl time.Duration) (string, error) {
	return o.prepareToken(ctx, m, TokenIssue{Purpose: PurposeEmailChange, TTL: ttl, Payload: m.Recipient}, m.Data()["old"])
}

// Token purposes of e-mail confirmation.
const (
	PurposeEmailChange = "email_change"
	PurposeEmailVerify = "email_verify"
)

// RetryMail, inside tx, puts messages back in the queue to be sent now:
// failed ones get a fresh retry period (and, for a link, a fresh link: the
// old one is voided when the new one is issued); waiting ones are made
// due. With allFailed (and no ids) it retries every failed message. It
// returns how many rows it put back.
func RetryMail(tx *gorm.DB, ids []uint, allFailed bool) (int64, error) {
	now := time.Now().UTC()
	failed := tx.Model(&OutboxMessage{}).Where("failed_at IS NOT NULL AND sent_at IS NULL AND dropped_at IS NULL")
	if !allFailed {
		failed = failed.Where("id IN ?", ids)
	}
	res := failed.Updates(map[string]any{"failed_at": nil, "next_attempt_at": now, "claimed_until": nil,
		"attempts": 0, "created_at": now})
	if res.Error != nil || allFailed {
		return res.RowsAffected, res.Error
	}
	n := res.RowsAffected
	res = tx.Model(&OutboxMessage{}).Where("id IN ? AND next_attempt_at > ?", ids, now).
		Where("sent_at IS NULL AND failed_at IS NULL AND dropped_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)", now).
		Update("next_attempt_at", now)
	return n + res.RowsAffected, res.Error
}
