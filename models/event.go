package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// EventKind names a security event.
type EventKind string

// The security events Gatehouse records.
const (
	EventLoginSucceeded    EventKind = "login_succeeded"
	EventLoginFailed       EventKind = "login_failed"
	EventLoginThrottled    EventKind = "login_throttled"
	EventLogout            EventKind = "logout"
	EventSignup            EventKind = "signup"
	EventSignupThrottled   EventKind = "signup_throttled"
	EventPasswordChanged   EventKind = "password_changed"
	EventResetRequested    EventKind = "password_reset_requested"
	EventResetCompleted    EventKind = "password_reset_completed"
	EventResetThrottled    EventKind = "password_reset_throttled"
	EventSessionRevoked    EventKind = "session_revoked"
	EventAdminAction       EventKind = "admin_action"
	EventUserDeactivated   EventKind = "user_deactivated"
	EventPrivilegesChanged EventKind = "privileges_changed"
	EventUserCreated       EventKind = "user_created"
	EventUserDeleted       EventKind = "user_deleted"
	EventPasswordSet       EventKind = "password_set_by_staff"
	// EventPasswordSetCLI: set with the changepassword command.
	EventPasswordSetCLI EventKind = "password_set_by_command"
	// EventPasswordChangeFailed: a wrong current password on the
	// password-change form (a stolen session guessing it).
	EventPasswordChangeFailed    EventKind = "password_change_failed"
	EventPasswordChangeThrottled EventKind = "password_change_throttled"
)

// AuthEvent is one entry of the security log. It never holds a password, a
// token or a session ID.
type AuthEvent struct {
	ID     uint      `gorm:"primaryKey"`
	Kind   EventKind `gorm:"size:64;not null;index"`
	UserID *uint     `gorm:"index:idx_auth_events_user_time,priority:1"`
	// Username is the account's name, kept so events of deleted users
	// still read clearly. What someone typed into a username field is
	// never stored (people paste passwords there): attempts on names no
	// account has are recorded without one.
	Username string `gorm:"size:150;not null;default:''"`
	// ActorID is the staff member who acted, for admin actions.
	ActorID   *uint  `gorm:"index"`
	IP        string `gorm:"size:64;not null;default:''"`
	UserAgent string `gorm:"size:512;not null;default:''"`
	// Detail is free text (rows from before the codes), or, with
	// DetailCode, the code's parameters URL-encoded (eventdetails.go).
	Detail     string    `gorm:"size:512;not null;default:''"`
	DetailCode string    `gorm:"size:64;not null;default:''"`
	CreatedAt  time.Time `gorm:"not null;index;index:idx_auth_events_user_time,priority:2"`
}

// Events records and reads the security log.
type Events struct {
	db *gorm.DB
}

// NewEvents returns the security-log operations over db.
func NewEvents(db *gorm.DB) *Events { return &Events{db: db} }

// Record stores e, filling in the time and the client from ctx when unset.
// Flows record their events inside their own transaction (recordEvent);
// Record is for events that accompany no other write.
func (ev *Events) Record(ctx context.Context, e AuthEvent) error {
	return dbErr("record event", RecordEvent(ev.db.WithContext(ctx), ctx, e))
}

// RecordEvent stores e inside tx.
func RecordEvent(tx *gorm.DB, ctx context.Context, e AuthEvent) error {
	ci := ClientInfoOf(ctx)
	if e.IP == "" {
		e.IP = ci.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = ci.UserAgent
	}
	e.splitDetail()
	e.IP, e.UserAgent = truncate(e.IP, 64), truncate(e.UserAgent, 512)
	e.Username, e.Detail = truncate(e.Username, 150*4), truncate(e.Detail, 512)
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	return tx.Create(&e).Error
}

// UserEvent is the event kind about user u (ID and name filled in).
func UserEvent(kind EventKind, user AnyUser, actorID *uint, detail string) AuthEvent {
	u := user.SessionPart()
	return AuthEvent{Kind: kind, UserID: &u.ID, Username: u.Username, ActorID: actorID, Detail: detail}
}

// ForUser returns the user's most recent events, newest first.
func (ev *Events) ForUser(ctx context.Context, userID uint, limit int) ([]AuthEvent, error) {
	var rows []AuthEvent
	err := ev.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error
	return rows, dbErr("list events", err)
}

// DefaultEventRetention is how long security events are kept (the
// EVENT_RETENTION setting).
const DefaultEventRetention = 90 * 24 * time.Hour

// DeleteOlderThan removes events older than age and returns how many.
func (ev *Events) DeleteOlderThan(ctx context.Context, age time.Duration) (int64, error) {
	res := ev.db.WithContext(ctx).Where("created_at < ?", time.Now().UTC().Add(-age)).Delete(&AuthEvent{})
	return res.RowsAffected, dbErr("delete old events", res.Error)
}
