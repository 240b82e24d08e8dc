package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The security overview's queries. They use only Kind, UserID, IP and
// CreatedAt: never the typed username, which is not kept in clear for
// unknown names.

// EventFilter selects security events: any of Kinds (none: every kind),
// one account, one address, and a time range [Since, Until).
type EventFilter struct {
	Kinds        []EventKind
	UserID       *uint
	IP           string
	Since, Until time.Time
}

func (f EventFilter) where(ev *Events, ctx context.Context) *gorm.DB {
	q := ev.db.WithContext(ctx).Model(&AuthEvent{})
	if len(f.Kinds) > 0 {
		q = q.Where("kind IN ?", f.Kinds)
	}
	if f.UserID != nil {
		q = q.Where("user_id = ?", *f.UserID)
	}
	if f.IP != "" {
		q = q.Where("ip = ?", f.IP)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	return q
}

// List returns one page of the events f selects, newest first, and how
// many there are in all.
func (ev *Events) List(ctx context.Context, f EventFilter, offset, limit int) ([]AuthEvent, int64, error) {
	var total int64
	if err := f.where(ev, ctx).Count(&total).Error; err != nil {
		return nil, 0, dbErr("count events", err)
	}
	var rows []AuthEvent
	err := f.where(ev, ctx).Order("created_at DESC, id DESC").Offset(offset).Limit(limit).Find(&rows).Error
	return rows, total, dbErr("list events", err)
}

// Histogram counts the events of each kind in n consecutive buckets of
// width step starting at since: counts[kind][i] is bucket i's count. One
// grouped query, whatever the number of events.
func (ev *Events) Histogram(ctx context.Context, kinds []EventKind, since time.Time, step time.Duration, n int) (map[EventKind][]int64, error) {
	since = since.UTC()
	var bucket string
	switch ev.db.Dialector.Name() {
	case "sqlite":
		// julianday() is in days (GORM stores times as text SQLite
		// parses); rounded to whole milliseconds before the integer
		// division, so an event exactly on a boundary is not put a bucket
		// early by floating-point error.
		bucket = fmt.Sprintf("CAST(ROUND((julianday(created_at) - julianday('%s')) * 86400000.0) AS INTEGER) / %d",
			since.Format("2006-01-02 15:04:05.000"), step.Milliseconds())
	case "postgres":
		bucket = fmt.Sprintf("FLOOR(EXTRACT(EPOCH FROM (created_at - TIMESTAMPTZ '%s')) / %d)::bigint",
			since.Format(time.RFC3339Nano), int64(step/time.Second))
	default:
		return nil, fmt.Errorf("event histogram: unsupported database %s", ev.db.Dialector.Name())
	}
	var rows []struct {
		Kind   EventKind
		Bucket int64
		N      int64
	}
	f := EventFilter{Kinds: kinds, Since: since, Until: since.Add(time.Duration(n) * step)}
	err := f.where(ev, ctx).Select("kind, " + bucket + " AS bucket, count(*) AS n").
		Group("kind, bucket").Scan(&rows).Error
	if err != nil {
		return nil, dbErr("event histogram", err)
	}
	out := make(map[EventKind][]int64, len(kinds))
	for _, k := range kinds {
		out[k] = make([]int64, n)
	}
	for _, r := range rows {
		if r.Bucket >= 0 && r.Bucket < int64(n) && out[r.Kind] != nil {
			out[r.Kind][r.Bucket] += r.N
		}
	}
	return out, nil
}

// TopCount is one row of a top list: an account or an address, and how
// many events it had.
type TopCount struct {
	UserID uint
	IP     string
	N      int64
}

// TopAccounts returns the accounts with the most events of kinds since
// then (events linked to an account only), most first.
func (ev *Events) TopAccounts(ctx context.Context, kinds []EventKind, since time.Time, limit int) ([]TopCount, error) {
	var rows []TopCount
	err := EventFilter{Kinds: kinds, Since: since}.where(ev, ctx).Where("user_id IS NOT NULL").
		Select("user_id, count(*) AS n").Group("user_id").Order("n DESC, user_id").Limit(limit).Scan(&rows).Error
	return rows, dbErr("top accounts", err)
}

// TopAddresses returns the client addresses with the most events of kinds
// since then, most first.
func (ev *Events) TopAddresses(ctx context.Context, kinds []EventKind, since time.Time, limit int) ([]TopCount, error) {
	var rows []TopCount
	err := EventFilter{Kinds: kinds, Since: since}.where(ev, ctx).Where("ip <> ''").
		Select("ip, count(*) AS n").Group("ip").Order("n DESC, ip").Limit(limit).Scan(&rows).Error
	return rows, dbErr("top addresses", err)
}

// Usernames returns the current usernames of the given accounts (deleted
// ones are missing).
func (ev *Events) Usernames(ctx context.Context, ids []uint) (map[uint]string, error) {
	out := map[uint]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID       uint
		Username string
	}
	if err := ev.db.WithContext(ctx).Model(&User{}).Select("id, username").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, dbErr("usernames", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Username
	}
	return out, nil
}
