package auth

import (
	"context"
	"errors"
	"gatehouse/internal/locale"
	"gatehouse/internal/validate"
	"gatehouse/models"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Sentinel errors of the password flows.
var (
	// ErrWrongPassword: the current password given to confirm a change
	// is wrong.
	ErrWrongPassword = errors.New("the current password is wrong")
	// ErrSetOwnPassword: the admin form skips the old password, so nobody
	// sets their own password there.
	ErrSetOwnPassword = errors.New("you cannot set your own password here")
)

// Messages of the password fields (Django's wording).
const (
	MsgRequired = "This field is required."
	MsgMismatch = "The two password fields didn't match."
)

// checkNewPassword validates a new-password pair for a user: required, the
// validators (on field1) and the match (on field2).
func checkNewPassword(verr *models.ValidationError, field1, field2, p1, p2, username, email string) {
	if p1 == "" {
		verr.Add(field1, MsgRequired)
	} else {
		for _, m := range validate.ValidatePassword(p1, username, email) {
			verr.Add(field1, m)
		}
	}
	switch {
	case p2 == "":
		verr.Add(field2, MsgRequired)
	case p1 != "" && p1 != p2:
		verr.Add(field2, MsgMismatch)
	}
}

// ChangePasswordInput is a password change by a signed-in user.
type ChangePasswordInput struct {
	User      *models.SessionUser
	SessionID string
	IP        string
	Old       string
	New1      string
	New2      string
	// ConfirmedWithin, when positive, lets an empty Old through if this
	// session confirmed who it is (sudo, sessions.reauth_at) within that
	// long: one confirmation is enough, as with django-allauth's
	// reauthentication. The session's freshness is checked in the
	// transaction that writes the new password; a stale one is
	// ErrReauthRequired.
	ConfirmedWithin time.Duration
}

// ErrReauthRequired: the old password was left out but the session's
// confirmation is not recent (any more).
var ErrReauthRequired = errors.New("auth: a recent confirmation is required")

// ChangePassword is Django's PasswordChangeView with the session rules of
// update_session_auth_hash made stricter. The new passwords are validated
// first; when they are invalid the old one is not checked at all (so the
// form is no free password oracle). Checking the old password takes an
// attempt against the same (username, address) limit as login and a wrong
// one is recorded. In one transaction: the new hash (only if the hash is
// still the one checked), every reset link voided, every other session of
// the user ended, this session rotated to a new token, the event, and the
// notice mailed through the outbox.
func (a *Accounts) ChangePassword(ctx context.Context, in ChangePasswordInput) (models.NewSession, error) {
	// The whole row: the old password is checked against its hash, and
	// the write below requires that hash unchanged (the session's user
	// does not carry it).
	u, err := a.rowOf(ctx, in.User, ErrWrongPassword)
	if err != nil {
		return models.NewSession{}, err
	}
	verr := models.NewValidationError()
	// Without the old password only a recent confirmation will do, proven
	// in the write's transaction below.
	bySudo := in.Old == "" && in.ConfirmedWithin > 0
	if in.Old == "" && !bySudo {
		verr.Add("old_password", MsgRequired)
	}
	checkNewPassword(verr, "new_password1", "new_password2", in.New1, in.New2, u.Username, u.Email)
	if err := verr.OrNil(); err != nil {
		return models.NewSession{}, err
	}
	userIP, _ := a.loginRules(u.Username, in.IP)
	taken, err := a.take(ctx, models.EventPasswordChangeThrottled, &u.SessionUser, userIP)
	if err != nil {
		return models.NewSession{}, err
	}
	ok := bySudo
	if bySudo {
		// Nothing to verify here: the transaction checks the session.
	} else if validate.CleanText(in.Old) == "" && len(in.Old) <= 4*validate.PasswordMaxLen {
		if ok, _, err = a.hasher.Verify(ctx, in.Old, u.Password); err != nil {
			return models.NewSession{}, err
		}
	} else if err := a.hasher.VerifyDummy(ctx, in.Old); err != nil {
		return models.NewSession{}, err
	}
	if !ok {
		return models.NewSession{}, a.recordFailure(ctx, failedAttempt{op: "record failed password change",
			event: models.UserEvent(models.EventPasswordChangeFailed, u, nil, ""), block: models.EventPasswordChangeThrottled, user: &u.SessionUser, taken: taken},
			ErrWrongPassword)
	}
	hash, err := a.hasher.Hash(ctx, in.New1)
	if err != nil {
		return models.NewSession{}, err
	}
	var ns models.NewSession
	err = a.transaction(ctx, "change password", func(tx *gorm.DB) error {
		if bySudo {
			var fresh int64
			if err := tx.Model(&models.Session{}).Where("id = ? AND user_id = ? AND reauth_at >= ?",
				in.SessionID, u.ID, time.Now().UTC().Add(-in.ConfirmedWithin)).Count(&fresh).Error; err != nil {
				return err
			}
			if fresh != 1 {
				return ErrReauthRequired
			}
		}
		res := tx.Model(&models.User{}).Where("id = ? AND password = ? AND is_active = ?", u.ID, u.Password, true).Update("password", hash)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrWrongPassword // changed (or deactivated) meanwhile
		}
		now := time.Now().UTC()
		if err := models.VoidTokens(tx, u.ID, now); err != nil {
			return err
		}
		n, err := endSessions(tx, u.ID, in.SessionID)
		if err != nil {
			return err
		}
		if err := models.ResetRule(tx, userIP); err != nil {
			return err
		}
		changed := *u
		changed.Password = hash
		if ns, err = models.SignIn(tx, ctx, in.SessionID, &changed, models.AuthPassword, false, a.policy.lifetimes()); err != nil {
			return err
		}
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventPasswordChanged, u, nil, models.CodedDetail(models.DetailOtherSessionsEnded, "count", strconv.FormatInt(n, 10)))); err != nil {
			return err
		}
		return notifyPasswordChanged(tx, u)
	})
	return ns, err
}

// ResetPassword completes a password reset: it validates the new passwords
// for the token's user, hashes, then in one transaction uses the token up
// (atomically, so of two parallel uses exactly one wins), stores the new
// hash, voids the user's other tokens, ends every session of the user (and
// this browser's, sessionID), records the event and queues the notice. A
// token that is not usable gives ErrInvalidToken; refused passwords a
// *ValidationError on new_password1/new_password2.
func (a *Accounts) ResetPassword(ctx context.Context, tokenHash, p1, p2, sessionID string) (*models.User, error) {
	tok, err := models.NewTokens(a.db).Check(ctx, models.PurposePasswordReset, tokenHash)
	if err != nil {
		return nil, err
	}
	user, err := a.users.ByID(ctx, tok.UserID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !user.IsActive) {
		return nil, models.ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	verr := models.NewValidationError()
	checkNewPassword(verr, "new_password1", "new_password2", p1, p2, user.Username, user.Email)
	if err := verr.OrNil(); err != nil {
		return nil, err
	}
	hash, err := a.hasher.Hash(ctx, p1)
	if err != nil {
		return nil, err
	}
	if beforeConsume != nil {
		beforeConsume()
	}
	err = a.transaction(ctx, "reset password", func(tx *gorm.DB) error {
		now := time.Now().UTC()
		tok, err := models.ConsumeToken(tx, models.PurposePasswordReset, tokenHash, now)
		if err != nil {
			return err
		}
		u, err := lockUser(tx, tok.UserID)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !u.IsActive) {
			return models.ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("password", hash).Error; err != nil {
			return err
		}
		if err := models.VoidTokens(tx, u.ID, now); err != nil {
			return err
		}
		if _, err := endSessions(tx, u.ID, ""); err != nil {
			return err
		}
		if sessionID != "" {
			if err := tx.Delete(&models.Session{}, "id = ?", sessionID).Error; err != nil {
				return err
			}
		}
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventResetCompleted, u, nil, "")); err != nil {
			return err
		}
		extra, err := resetSettlesFactors(tx, ctx, u)
		if err != nil {
			return err
		}
		*user = *u
		user.Password = hash
		return notifyPasswordChangedWith(tx, u, extra)
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// resetSettlesFactors runs inside a reset's transaction. The link proved
// that the reader owns the address. If that address was never confirmed,
// every second factor was added before anyone proved it (an attacker who
// signed up with the owner's address could have planted them): they are
// removed and the address counts as confirmed from now on. Whatever
// factors remain are named in the password-changed notice, with a link to
// review them, so a thief's factor cannot stay silently.
func resetSettlesFactors(tx *gorm.DB, ctx context.Context, u *models.User) (map[string]string, error) {
	extra := map[string]string{"reset": "1"}
	if u.Email != "" && !u.EmailVerified {
		res := tx.Where("user_id = ?", u.ID).Delete(&models.Authenticator{})
		if res.Error != nil {
			return nil, res.Error
		}
		if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("email_verified", true).Error; err != nil {
			return nil, err
		}
		u.EmailVerified = true
		if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventEmailVerified, u, nil, models.CodedDetail(models.DetailVerifiedByResetLink))); err != nil {
			return nil, err
		}
		if res.RowsAffected > 0 {
			extra["factors_removed"] = "1"
			if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventFactorRemoved, u, nil,
				models.CodedDetail(models.DetailFactorsRemovedByReset))); err != nil {
				return nil, err
			}
		}
	}
	summary, err := factorSummary(tx, u.ID, extra)
	if err != nil {
		return nil, err
	}
	if summary != "" {
		extra["factors"] = summary
	}
	return extra, nil
}

// beforeConsume, when set by a test, runs after the token was checked and
// before it is used up, so the test can line parallel uses up at the race.
var beforeConsume func()

// AdminSetPassword sets target's password for a staff member, with the same
// validators as everywhere else. Hash first; then in one transaction the
// actor's rights are checked against the rows as they are (so a promotion
// or demotion in between cannot be raced), the hash stored, tokens voided,
// every session of the target ended, the event recorded and the notice
// queued. It returns how many sessions ended.
func (a *Accounts) AdminSetPassword(ctx context.Context, actorID, targetID uint, p1, p2 string) (int64, error) {
	target, err := a.users.ByID(ctx, targetID)
	if err != nil {
		return 0, err
	}
	if actorID == targetID {
		return 0, ErrSetOwnPassword
	}
	verr := models.NewValidationError()
	checkNewPassword(verr, "new_password1", "new_password2", p1, p2, target.Username, target.Email)
	if err := verr.OrNil(); err != nil {
		return 0, err
	}
	hash, err := a.hasher.Hash(ctx, p1)
	if err != nil {
		return 0, err
	}
	if beforeAdminWrite != nil {
		beforeAdminWrite()
	}
	var n int64
	err = a.transaction(ctx, "set password", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		n, err = setPassword(tx, t, hash)
		if err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventPasswordSet, t, &actorID, models.CodedDetail(models.DetailPasswordSetByStaff, "count", strconv.FormatInt(n, 10))))
	})
	return n, err
}

// SetPasswordByCommand is the changepassword management command: it
// validates password for the named user and, in one transaction, stores
// it, voids tokens, ends every session, records the event and queues the
// notice. It returns the user and how many sessions ended.
func (a *Accounts) SetPasswordByCommand(ctx context.Context, username, password string) (*models.User, int64, error) {
	u, err := a.users.ByUsername(ctx, username)
	if err != nil {
		return nil, 0, err
	}
	verr := models.NewValidationError()
	for _, m := range validate.ValidatePassword(password, u.Username, u.Email) {
		verr.Add("password", m)
	}
	if err := verr.OrNil(); err != nil {
		return nil, 0, err
	}
	hash, err := a.hasher.Hash(ctx, password)
	if err != nil {
		return nil, 0, err
	}
	var n int64
	err = a.transaction(ctx, "set password", func(tx *gorm.DB) error {
		t, err := lockUser(tx, u.ID)
		if err != nil {
			return err
		}
		if n, err = setPassword(tx, t, hash); err != nil {
			return err
		}
		*u = *t
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventPasswordSetCLI, t, nil, models.CodedDetail(models.DetailSessionsEnded, "count", strconv.FormatInt(n, 10))))
	})
	return u, n, err
}

// setPassword stores hash for u inside tx, voids u's tokens, ends all of
// u's sessions and queues the notice.
func setPassword(tx *gorm.DB, u *models.User, hash string) (int64, error) {
	if err := tx.Model(&models.User{}).Where("id = ?", u.ID).Update("password", hash).Error; err != nil {
		return 0, err
	}
	if err := models.VoidTokens(tx, u.ID, time.Now().UTC()); err != nil {
		return 0, err
	}
	n, err := endSessions(tx, u.ID, "")
	if err != nil {
		return 0, err
	}
	return n, notifyPasswordChanged(tx, u)
}

// RequestPasswordReset takes a reset request for an address, with no
// account look-up: in one transaction the request is counted against the
// per-address limit of the client (over it: *ThrottledError, answered 429,
// which says nothing about any e-mail address) and of the e-mail address
// (over it the request is silently dropped, so the limit reveals nothing),
// and a job is queued for the outbox worker, which finds the accounts and
// mails them (ProcessResetRequest). The answer is the same whether or not
// an account has the address. next (checked by the handler, "" for none)
// goes in the mailed link, for the sign-in after the reset.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email, ip, next string) error {
	ipRule := models.NewRule(ScopeResetIP, a.policy.ResetPerIP, models.ThrottleIP(ip))
	emailRule := models.NewRule(ScopeResetEmail, a.policy.ResetPerEmail, validate.EmailKey(email))
	var refused *ThrottledError
	err := a.transaction(ctx, "request password reset", func(tx *gorm.DB) error {
		byIP, err := a.throttles.TakeTx(tx, ipRule)
		if err != nil {
			return err
		}
		if byIP.Refused() {
			refused = &ThrottledError{Wait: byIP.Wait, Scope: byIP.WaitScope}
			return nil
		}
		if err := recordBlock(tx, ctx, models.EventResetThrottled, nil, byIP); err != nil {
			return err
		}
		byEmail, err := a.throttles.TakeTx(tx, emailRule)
		if err != nil {
			return err
		}
		if byEmail.Refused() {
			return nil // silently: same answer, no mail
		}
		// The address is not recorded in the event: it would otherwise
		// hold addresses that have no account.
		if err := recordBlock(tx, ctx, models.EventResetThrottled, nil, byEmail); err != nil {
			return err
		}
		ci := models.ClientInfoOf(ctx)
		d := map[string]string{"email": email, "ip": ci.IP, "user_agent": models.Truncate(ci.UserAgent, 512)}
		if next != "" {
			d["next"] = next
		}
		return models.Enqueue(tx, models.KindResetRequest, nil, "", d)
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	return nil
}

// ProcessResetRequest is the worker's half of a reset request (a
// KindResetRequest job): in one transaction it finds the active accounts
// whose address matches (case-insensitively), queues each a reset mail at
// its stored address (unless an unused link went out recently), records
// the events and marks the job done.
func (a *Accounts) ProcessResetRequest(ctx context.Context, job *models.OutboxMessage) error {
	d := job.Data()
	ctx = models.WithClientInfo(ctx, models.ClientInfo{IP: d["ip"], UserAgent: d["user_agent"]})
	// The mails speak the language of the request that asked for them
	// (unless the account has its own): it was kept in the job.
	ctx = locale.With(ctx, locale.For(d["lang"]))
	return a.transaction(ctx, "process reset request", func(tx *gorm.DB) error {
		// Done, the job forgets the typed address, IP and browser: a kept
		// row names nobody (the deletion path scrubs only rows linked to
		// an account).
		res := tx.Model(&models.OutboxMessage{}).Where("id = ? AND sent_at IS NULL", job.ID).
			Updates(map[string]any{"sent_at": time.Now().UTC(), "payload": "{}"})
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error // already done by another worker
		}
		key := validate.EmailKey(d["email"])
		var users []models.User
		if key != "" {
			if err := tx.Where("email_key = ? AND is_active = ?", key, true).Limit(20).Find(&users).Error; err != nil {
				return err
			}
		}
		if len(users) == 0 {
			return models.RecordEvent(tx, ctx, models.AuthEvent{Kind: models.EventResetRequested, Detail: models.CodedDetail(models.DetailResetNoAccount)})
		}
		for i := range users {
			if _, err := a.queueResetMail(tx, ctx, &users[i], nil, d["next"]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AdminRequestReset mails target a reset link at their stored address for
// a staff member: rights checked in the transaction that queues the mail.
// queued is false when an unused link was mailed within ResetThrottle (the
// admin is told; nothing is sent).
func (a *Accounts) AdminRequestReset(ctx context.Context, actorID, targetID uint) (queued bool, err error) {
	err = a.transaction(ctx, "request password reset", func(tx *gorm.DB) error {
		_, t, err := loadActorTarget(tx, actorID, targetID)
		if err != nil {
			return err
		}
		if t.Email == "" || !t.IsActive {
			return ErrNotAllowed
		}
		queued, err = a.queueResetMail(tx, ctx, t, &actorID, "")
		return err
	})
	return queued, err
}

// queueResetMail queues a reset mail for u inside tx unless a link mailed
// (or still queued) within ResetThrottle is unused; the user row is locked
// first, so two workers cannot both pass the check. It records the event
// either way. next, when not "", goes in the link.
func (a *Accounts) queueResetMail(tx *gorm.DB, ctx context.Context, u *models.User, actorID *uint, next string) (bool, error) {
	if _, err := lockUser(tx, u.ID); err != nil {
		return false, err
	}
	now := time.Now().UTC()
	var n int64
	err := tx.Model(&models.OutboxMessage{}).
		Where("kind = ? AND user_id = ? AND created_at > ? AND failed_at IS NULL AND dropped_at IS NULL", models.KindPasswordReset, u.ID, now.Add(-a.policy.ResetThrottle)).
		Where("sent_at IS NULL OR EXISTS (SELECT 1 FROM one_time_tokens t WHERE t.outbox_id = outbox_messages.id AND t.used_at IS NULL AND t.expires_at > ?)", now).
		Limit(1).Count(&n).Error
	if err != nil {
		return false, err
	}
	if n > 0 {
		return false, models.RecordEvent(tx, ctx, models.UserEvent(models.EventResetRequested, u, actorID, models.CodedDetail(models.DetailResetThrottled)))
	}
	ttl := strconv.FormatInt(int64(a.policy.ResetTimeout/time.Second), 10)
	d := map[string]string{"username": u.Username, "ttl_seconds": ttl}
	if next != "" {
		d["next"] = next
	}
	if err := models.Enqueue(tx, models.KindPasswordReset, &u.ID, u.Email, d); err != nil {
		return false, err
	}
	return true, models.RecordEvent(tx, ctx, models.UserEvent(models.EventResetRequested, u, actorID, models.CodedDetail(models.DetailResetLinkMailed)))
}
