package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

// Rule is one limit applied to an attempt: the scope of what is counted
// (kept in the clear for operators), the hashed key saying who, and the
// limit.
type Rule struct {
	Scope string
	Key   string
	Limit Limit
}

// NewRule builds the rule for scope and the parts that say who (already
// normalised: a username key, a ThrottleIP).
func NewRule(scope string, limit Limit, parts ...string) Rule {
	return Rule{Scope: scope, Key: ThrottleKey(scope, parts...), Limit: limit}
}

// neverBlocked is the blocked_until of a new counter. It is far in the
// past, not "now": a transaction that read the clock a moment before
// another created the row (and then waited for its lock) must not see a
// block of a few microseconds.
var neverBlocked = time.Unix(0, 0).UTC()

// Taken is the outcome of taking an attempt against some rules.
type Taken struct {
	// Wait is how long until the attempt may be made (0: it was taken);
	// WaitScope the rule that refused it.
	Wait      time.Duration
	WaitScope string
	// Blocked is the longest block this attempt started (its rule's
	// limit is now used up); BlockScope that rule's scope.
	Blocked    time.Duration
	BlockScope string
	taken      []reservation
}

// Refused reports whether the attempt was refused (and nothing counted).
func (t Taken) Refused() bool { return t.Wait > 0 }

// reservation remembers what a take changed, so it can be given back.
type reservation struct {
	rule         Rule
	startedBlock bool
	prevWindow   time.Time
	prevBlocked  time.Time
	prevCount    int
}

// Take reserves one attempt against every rule, before the work it limits
// (hashing a password, sending a mail, making an account), in one
// transaction: each counter row is created if need be, locked, checked and
// counted in the same write, so a parallel burst — from one process or
// many — cannot slip past a limit. When any rule is blocked the attempt is
// refused and nothing is counted (hammering a blocked key does not stretch
// its block). The attempt that uses up a limit is still allowed; it blocks
// the ones after it. Disabled limits are skipped.
func (t *Throttles) Take(ctx context.Context, rules ...Rule) (Taken, error) {
	var out Taken
	err := t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		out, err = t.TakeTx(tx, rules...)
		return err
	})
	if err != nil {
		return Taken{}, dbErr("take throttle", err)
	}
	return out, nil
}

// TakeTx is Take inside the caller's transaction.
func (t *Throttles) TakeTx(tx *gorm.DB, rules ...Rule) (Taken, error) {
	now := t.now()
	var out Taken
	rows := make([]ThrottleCounter, len(rules))
	for i, r := range rules {
		if !r.Limit.Enabled() {
			continue
		}
		// Make sure the row exists; the unique index settles races between
		// instances creating it at once. Then lock it: SQLite's immediate
		// transaction already holds the write lock; FOR UPDATE does the
		// same for PostgreSQL and is dropped on SQLite.
		if err := lockCounter(tx, r, now, &rows[i]); err != nil {
			return Taken{}, err
		}
		if wait := rows[i].BlockedUntil.Sub(now); wait > out.Wait {
			out.Wait, out.WaitScope = wait, r.Scope
		}
	}
	if out.Refused() {
		return out, nil
	}
	for i, r := range rules {
		if !r.Limit.Enabled() {
			continue
		}
		row := rows[i]
		res := reservation{rule: r, prevWindow: row.WindowStart, prevBlocked: row.BlockedUntil, prevCount: row.Count}
		if now.Sub(row.UpdatedAt) > ThrottleRetention {
			row.Strikes = 0 // long quiet: forget the back-off
		}
		// A window opens at the first attempt (or when a block ends) and
		// closes Window later; attempts in a closed window are forgotten.
		if now.Sub(row.WindowStart) >= r.Limit.Window {
			row.WindowStart, row.Count = now, 0
			res.prevWindow, res.prevCount = now, 0
		}
		row.Count++
		row.UpdatedAt = now
		if row.Count >= r.Limit.Max {
			d := r.Limit.blockFor(row.Strikes)
			row.BlockedUntil = now.Add(d)
			row.Strikes++
			row.Count, row.WindowStart = 0, row.BlockedUntil
			res.startedBlock = true
			if d > out.Blocked {
				out.Blocked, out.BlockScope = d, r.Scope
			}
		}
		err := tx.Model(&ThrottleCounter{}).Where("id = ?", row.ID).Updates(map[string]any{
			"window_start": row.WindowStart, "count": row.Count, "strikes": row.Strikes,
			"blocked_until": row.BlockedUntil, "updated_at": row.UpdatedAt,
		}).Error
		if err != nil {
			return Taken{}, err
		}
		out.taken = append(out.taken, res)
	}
	return out, nil
}

// lockCounter creates r's counter row if need be and reads it locked into
// row. The insert does nothing when the row exists; should the row vanish
// between that and the locked read (the stale-counter sweep deleting it,
// under PostgreSQL's READ COMMITTED), it is created again.
func lockCounter(tx *gorm.DB, r Rule, now time.Time, row *ThrottleCounter) error {
	for attempt := 0; ; attempt++ {
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).
			Create(&ThrottleCounter{Key: r.Key, Scope: truncate(r.Scope, 64), WindowStart: now, BlockedUntil: neverBlocked, UpdatedAt: now}).Error; err != nil {
			return err
		}
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("key = ?", r.Key).Take(row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) && attempt < 3 {
			continue
		}
		return err
	}
}

// GiveBack returns the attempt taken against rule (a login that succeeded
// does not count against its address), inside tx: the count goes down by
// one and a block the attempt started is lifted.
func GiveBack(tx *gorm.DB, t Taken, scope string) error {
	for _, r := range t.taken {
		if r.rule.Scope != scope {
			continue
		}
		up := map[string]any{"count": gorm.Expr("CASE WHEN count > 0 THEN count - 1 ELSE 0 END")}
		if r.startedBlock {
			up = map[string]any{"count": max(r.prevCount, 0), "window_start": r.prevWindow,
				"blocked_until": r.prevBlocked, "strikes": gorm.Expr("CASE WHEN strikes > 0 THEN strikes - 1 ELSE 0 END")}
		}
		if err := tx.Model(&ThrottleCounter{}).Where("key = ?", r.rule.Key).Updates(up).Error; err != nil {
			return err
		}
	}
	return nil
}

// ResetRule forgets a rule's attempts and back-off inside tx, as a
// successful login does for its (username, address) counter. The row is
// cleared rather than deleted, so a parallel take never loses it between
// its insert and its locked read.
func ResetRule(tx *gorm.DB, r Rule) error {
	return tx.Model(&ThrottleCounter{}).Where("key = ?", r.Key).Updates(map[string]any{
		"count": 0, "strikes": 0, "blocked_until": neverBlocked, "window_start": time.Now().UTC(),
	}).Error
}

// Wait reports how long until an attempt under rule may be made (0: now),
// without counting anything: for showing a form's state, never as the
// gate before work (Take is the gate).
func (t *Throttles) Wait(ctx context.Context, r Rule) (time.Duration, error) {
	var row ThrottleCounter
	err := t.db.WithContext(ctx).Select("blocked_until").Where("key = ?", r.Key).Limit(1).Find(&row).Error
	if err != nil {
		return 0, dbErr("check throttle", err)
	}
	return max(row.BlockedUntil.Sub(t.now()), 0), nil
}

// DeleteStale removes counters that are not blocked and have been idle for
// ThrottleRetention, and returns how many.
func (t *Throttles) DeleteStale(ctx context.Context) (int64, error) {
	now := t.now()
	res := t.db.WithContext(ctx).Where("updated_at <= ? AND blocked_until <= ?", now.Add(-ThrottleRetention), now).
		Delete(&ThrottleCounter{})
	return res.RowsAffected, dbErr("delete stale throttle counters", res.Error)
}
