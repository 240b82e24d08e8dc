package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ThrottleCounter counts attempts against one throttle key (for example
// failed logins for one username from one address). Counters live in the
// database so every instance behind a load balancer sees the same counts.
type ThrottleCounter struct {
	ID uint `gorm:"primaryKey"`
	// Key is the SHA-256 (hex) of the scope and the parts that identify the
	// attempt, so the table never holds what was typed into a username field
	// (people paste passwords there) and keys have a fixed size.
	Key string `gorm:"size:64;not null;uniqueIndex"`
	// Scope is the key's kind ("login:user+ip", "login:ip" …), kept in the
	// clear for operators; it says nothing about who.
	Scope       string    `gorm:"size:64;not null;default:''"`
	WindowStart time.Time `gorm:"not null"`
	Count       int       `gorm:"not null;default:0"`
	// Strikes is how many times the key has been blocked since it was last
	// reset; each block lasts twice as long as the one before.
	Strikes      int       `gorm:"not null;default:0"`
	BlockedUntil time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null;index"`
}

// Limit is a throttle policy: at most Max counted attempts per Window; the
// attempt that reaches Max blocks the key for Block, doubled on each further
// block up to MaxBlock. Max < 0 turns the limit off.
type Limit struct {
	Max      int
	Window   time.Duration
	Block    time.Duration
	MaxBlock time.Duration
}

// Enabled reports whether the limit applies at all.
func (l Limit) Enabled() bool { return l.Max > 0 && l.Window > 0 }

// blockFor returns how long the key is blocked at its strikes-th block
// (0-based): Block·2^strikes, capped at MaxBlock.
func (l Limit) blockFor(strikes int) time.Duration {
	d := max(l.Block, time.Second)
	for i := 0; i < strikes && d < l.MaxBlock; i++ {
		d *= 2
	}
	if l.MaxBlock > 0 && d > l.MaxBlock {
		d = l.MaxBlock
	}
	return d
}

// String formats the limit as ParseLimit reads it.
func (l Limit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.Itoa(l.Max) + "/" + l.Window.String()
}

// ParseLimit reads "N/duration" (for example "5/15m") or "off". The block
// durations are not part of the text; the caller sets them.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return Limit{Max: -1}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("%q is not N/duration (e.g. 5/15m) or off", s)
	}
	max, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || max < 1 || max > 1_000_000 {
		return Limit{}, fmt.Errorf("%q: the count must be a number from 1 to 1000000", s)
	}
	win, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || win < time.Second || win > 30*24*time.Hour {
		return Limit{}, fmt.Errorf("%q: the window must be a duration from 1s to 720h", s)
	}
	return Limit{Max: max, Window: win}, nil
}

// ThrottleRetention is how long an idle, unblocked counter is kept. It is
// longer than any sensible window, so a key's strikes (its back-off) survive
// between bursts of guessing, and short enough that the table stays small.
const ThrottleRetention = 24 * time.Hour

// ThrottleKey returns the stored key for scope and parts: the hex SHA-256 of
// "scope:part1|part2…". Parts are joined with a separator that cannot occur
// in a normalised IP and is length-prefixed, so ("a|b","c") and ("a","b|c")
// differ.
func ThrottleKey(scope string, parts ...string) string {
	var b strings.Builder
	b.WriteString(scope)
	b.WriteByte(':')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte('#')
		b.WriteString(p)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// ThrottleIP returns the address a per-client limit is keyed on: an IPv4
// address as is, an IPv6 address by its /64 network, since one client
// commonly holds a whole /64 and could otherwise rotate through it. Text
// that is not an IP is returned trimmed.
func ThrottleIP(s string) string {
	ip := net.ParseIP(strings.TrimSpace(s))
	if ip == nil {
		return strings.TrimSpace(s)
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// Throttles holds the throttle-counter operations.
type Throttles struct {
	db  *gorm.DB
	now func() time.Time
}

// NewThrottles returns the throttle operations over db.
func NewThrottles(db *gorm.DB) *Throttles {
	return &Throttles{db: db, now: func() time.Time { return time.Now().UTC() }}
}

// Check reports whether an attempt under key may go ahead, and if not, how
// long until it may. It only reads.
func (t *Throttles) Check(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error) {
	var row ThrottleCounter
	err = t.db.WithContext(ctx).Select("blocked_until").Where("key = ?", key).Limit(1).Find(&row).Error
	if err != nil {
		return false, 0, dbErr("check throttle", err)
	}
	if wait := row.BlockedUntil.Sub(t.now()); wait > 0 {
		return false, wait, nil
	}
	return true, 0, nil
}

// Fail counts one attempt against key under limit (a failed login, a reset
// request …). The attempt that reaches limit.Max blocks the key; it returns
// how long the key is now blocked for (0 when it is not). Concurrent calls on
// one key are serialised by the database, so no attempt goes uncounted.
func (t *Throttles) Fail(ctx context.Context, scope, key string, limit Limit) (blockedFor time.Duration, err error) {
	if !limit.Enabled() {
		return 0, nil
	}
	now := t.now()
	err = t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Make sure the row exists; the unique index settles races between
		// instances creating it at once.
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).
			Create(&ThrottleCounter{Key: key, Scope: truncate(scope, 64), WindowStart: now, BlockedUntil: now, UpdatedAt: now}).Error; err != nil {
			return err
		}
		// SQLite's immediate transaction already holds the write lock;
		// FOR UPDATE does the same for PostgreSQL and is dropped on SQLite.
		var row ThrottleCounter
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("key = ?", key).Take(&row).Error; err != nil {
			return err
		}
		if now.Sub(row.UpdatedAt) > ThrottleRetention {
			row.Strikes = 0 // long quiet: forget the back-off
		}
		// A window opens at the first attempt (or when a block ends) and
		// closes Window later; attempts in a closed window are forgotten.
		if now.Sub(row.WindowStart) >= limit.Window {
			row.WindowStart, row.Count = now, 0
		}
		row.Count++
		row.UpdatedAt = now
		if row.Count >= limit.Max {
			blockedFor = limit.blockFor(row.Strikes)
			row.BlockedUntil = now.Add(blockedFor)
			row.Strikes++
			row.Count, row.WindowStart = 0, row.BlockedUntil
		}
		return tx.Model(&ThrottleCounter{}).Where("id = ?", row.ID).Updates(map[string]any{
			"window_start": row.WindowStart, "count": row.Count, "strikes": row.Strikes,
			"blocked_until": row.BlockedUntil, "updated_at": row.UpdatedAt,
		}).Error
	})
	if err != nil {
		return 0, dbErr("count throttle", err)
	}
	return blockedFor, nil
}

// Reset forgets key's attempts and back-off, as after a successful login.
func (t *Throttles) Reset(ctx context.Context, key string) error {
	return dbErr("reset throttle", t.db.WithContext(ctx).Where("key = ?", key).Delete(&ThrottleCounter{}).Error)
}

// DeleteStale removes counters that are not blocked and have been idle for
// ThrottleRetention, and returns how many.
func (t *Throttles) DeleteStale(ctx context.Context) (int64, error) {
	now := t.now()
	res := t.db.WithContext(ctx).Where("updated_at <= ? AND blocked_until <= ?", now.Add(-ThrottleRetention), now).
		Delete(&ThrottleCounter{})
	return res.RowsAffected, dbErr("delete stale throttle counters", res.Error)
}

// Sweep deletes stale counters every interval until ctx ends.
func (t *Throttles) Sweep(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			n, err := t.DeleteStale(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("sweep throttle counters", "err", err)
				continue
			}
			if n > 0 {
				log.Info("swept throttle counters", "count", n)
			}
		}
	}
}
