package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/models"
)

// Password reset, Django's flow with its leaks closed:
//
//   - The request form answers the same (page, status, timing) whether or
//     not the address has an account: the handler only checks the syntax,
//     counts the request against its throttles (keyed by what was typed, so
//     the same for every address) and queues a job; the look-up, the token
//     and the mail happen in the background worker, so neither an account
//     look-up nor an SMTP round trip is on the request path. An address over
//     its limit gets the same answer and no job.
//   - The link's token is checked, its hash put in the session, and the
//     browser sent on to /accounts/reset/set-password/ at once, so the token
//     is neither left in the address bar nor sent as a Referer. Logs name
//     the route pattern, never the path.
//   - A token works once: the final POST uses it up with one conditional
//     UPDATE, so of parallel uses exactly one wins.

// resetHashKey is the session value holding the hash (never the token) of
// the reset link being used.
const resetHashKey = "_password_reset_token_hash"

// resetQueueSize bounds reset requests waiting for the worker; when full,
// further requests are dropped (and logged), answering the same.
const resetQueueSize = 256

// Paths of the reset flow.
const (
	passwordResetDoneURL = "/accounts/password_reset/done/"
	setPasswordURL       = "/accounts/reset/set-password/"
	resetCompleteURL     = "/accounts/reset/done/"
)

// resetJob is one reset request for the worker: by address (the public
// form) or, from the staff admin, for one user at their stored address.
type resetJob struct {
	email  string
	userID uint
	// actorID is the staff member who asked, recorded in the log.
	actorID uint
	client  models.ClientInfo
}

func (h *Handler) passwordResetPage(c *gin.Context) {
	p := h.page(c, "Password reset")
	p.Narrow = true
	h.render(c, http.StatusOK, components.PasswordResetPage(p, newForm(nil)))
}

func (h *Handler) passwordResetSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "email")
	email := models.NormalizeEmail(values.Get("email"))
	switch {
	case formMsg != "":
		addError(form, "", formMsg)
	case email == "":
		addError(form, "email", "This field is required.")
	default:
		if msg := models.ValidateEmail(email); msg != "" {
			addError(form, "email", msg)
		}
	}
	if form.HasErrors() {
		h.passwordResetForm(c, http.StatusUnprocessableEntity, form)
		return
	}
	// Per client address: over the limit the form answers 429, which says
	// nothing about any e-mail address.
	emailRule, ipRule := h.resetRules(c, email)
	wait, _, err := h.throttleCheck(c, ipRule)
	if err != nil {
		h.dbError(c, "check password reset throttle", err)
		return
	}
	if wait > 0 {
		status, msg := tooManyRequests(c, wait, "password reset requests")
		addError(form, "", msg)
		h.passwordResetForm(c, status, form)
		return
	}
	// Per e-mail address: the same check and count run whether or not an
	// account has the address, and a request over the limit gets the usual
	// answer and is simply not queued, so the limit reveals nothing. A
	// refused request is not counted, so hammering an address does not
	// stretch its block.
	emailWait, _, err := h.throttleCheck(c, emailRule)
	if err != nil {
		h.dbError(c, "check password reset throttle", err)
		return
	}
	counted := []throttleRule{ipRule}
	if emailWait == 0 {
		counted = append(counted, emailRule)
	}
	blocked, scope, err := h.throttleCount(c, counted...)
	if err != nil {
		h.dbError(c, "count password reset request", err)
		return
	}
	if blocked > 0 {
		// Recorded when a block starts; the address is not: the event
		// would otherwise hold addresses that have no account.
		h.audit(c, models.AuthEvent{Kind: models.EventResetThrottled, Detail: "scope=" + scope + " blocked_for=" + blocked.String()})
	}
	if emailWait == 0 {
		select {
		case h.resetJobs <- resetJob{email: email, client: models.ClientInfo{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}}:
		default:
			h.log.Warn("password reset queue full; request dropped")
		}
	}
	h.redirect(c, passwordResetDoneURL)
}

func (h *Handler) passwordResetForm(c *gin.Context, status int, form components.Form) {
	if isHTMX(c) {
		h.render(c, status, components.PasswordResetForm(form))
		return
	}
	p := h.page(c, "Password reset")
	p.Narrow = true
	h.render(c, status, components.PasswordResetPage(p, form))
}

func (h *Handler) passwordResetDonePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.PasswordResetDonePage(h.page(c, "Password reset sent")))
}

// runResetWorker processes reset requests one at a time (which also makes
// the per-account throttle race-free) and sweeps expired tokens, until ctx
// ends; then it processes what is still queued and returns.
func (h *Handler) runResetWorker(ctx context.Context) {
	work := context.WithoutCancel(ctx)
	sweep := time.NewTicker(10 * time.Minute)
	defer sweep.Stop()
	for {
		select {
		case j := <-h.resetJobs:
			h.processReset(work, j)
		case <-sweep.C:
			if _, err := h.resets.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("sweep expired reset tokens", "err", err)
			}
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(work, 10*time.Second)
			defer cancel()
			for {
				select {
				case j := <-h.resetJobs:
					h.processReset(drain, j)
				default:
					return
				}
			}
		}
	}
}

// processReset finds the active accounts whose address matches the request
// (case-insensitively) and mails each, at its stored address, a link, unless
// one was mailed within the throttle window and is still unused.
func (h *Handler) processReset(ctx context.Context, j resetJob) {
	ctx = models.WithClientInfo(ctx, j.client)
	var users []models.User
	if j.userID != 0 {
		u, err := h.users.ByID(ctx, j.userID)
		switch {
		case errors.Is(err, models.ErrNotFound):
			return
		case err != nil:
			h.log.Error("password reset: load user", "user_id", j.userID, "err", err)
			return
		case u.IsActive && u.Email != "":
			users = append(users, *u)
		}
	} else {
		var err error
		users, err = h.users.ActiveByEmail(ctx, j.email)
		if err != nil {
			h.log.Error("password reset: find users", "err", err)
			return
		}
	}
	var actor *uint
	if j.actorID != 0 {
		actor = &j.actorID
	}
	if len(users) == 0 {
		h.record(ctx, models.AuthEvent{Kind: models.EventResetRequested, ActorID: actor, Detail: "no active account has this address"})
		return
	}
	for i := range users {
		u := &users[i]
		pending, err := h.resets.PendingSince(ctx, u.ID, time.Now().UTC().Add(-h.cfg.PasswordResetThrottle))
		if err != nil {
			h.log.Error("password reset: check throttle", "user_id", u.ID, "err", err)
			continue
		}
		if pending {
			h.record(ctx, models.AuthEvent{Kind: models.EventResetRequested, UserID: &u.ID, Username: u.Username, ActorID: actor,
				Detail: "throttled: an unused link was mailed recently"})
			continue
		}
		token, err := h.resets.Create(ctx, u.ID, h.cfg.PasswordResetTimeout)
		if err != nil {
			h.log.Error("password reset: create token", "user_id", u.ID, "err", err)
			continue
		}
		e := components.ResetEmail{
			Username: u.Username,
			Link:     h.cfg.BaseURL + "/accounts/reset/" + token + "/",
			ValidFor: humanDuration(h.cfg.PasswordResetTimeout),
			SiteURL:  h.cfg.BaseURL,
		}
		// Record first: the log should never lag behind a mail already out.
		h.record(ctx, models.AuthEvent{Kind: models.EventResetRequested, UserID: &u.ID, Username: u.Username, ActorID: actor, Detail: "link mailed"})
		h.sendMail(ctx, u.Email, "Password reset on Gatehouse", components.ResetEmailText(e), components.ResetEmailHTML(e))
	}
}

// resetLink checks the e-mailed token, keeps its hash in the session and
// sends the browser on to the new-password form, so the token leaves the
// address bar at once.
func (h *Handler) resetLink(c *gin.Context) {
	hash, err := models.ResetTokenHash(c.Param("token"))
	if err != nil {
		h.invalidResetLink(c)
		return
	}
	if _, err := h.resets.Check(c.Request.Context(), hash); err != nil {
		if errors.Is(err, models.ErrInvalidToken) {
			h.invalidResetLink(c)
			return
		}
		h.dbError(c, "check reset token", err)
		return
	}
	sessions.Default(c).Set(resetHashKey, hash)
	h.redirect(c, setPasswordURL)
}

// invalidResetLink answers a link that is malformed, unknown, expired or
// used: 400 with a page offering a new link. The statuses are not told
// apart, so the page does not tell which tokens once existed.
func (h *Handler) invalidResetLink(c *gin.Context) {
	if v, ok := c.Get(sessions.DefaultKey); ok {
		if s := v.(sessions.Session); s.Get(resetHashKey) != nil {
			s.Delete(resetHashKey)
		}
	}
	if isHTMX(c) && c.Request.Method == http.MethodPost {
		// A form swap cannot show a whole page: send the browser to the
		// form's address, which (the hash gone) answers with this page.
		h.redirect(c, setPasswordURL)
		return
	}
	h.render(c, http.StatusBadRequest, components.InvalidResetLinkPage(h.page(c, "Password reset unsuccessful")))
}

// resetSessionHash returns the reset token hash kept in the session, or "".
func resetSessionHash(c *gin.Context) string {
	if _, err := c.Request.Cookie(models.SessionCookieName); err != nil {
		return ""
	}
	hash, _ := sessions.Default(c).Get(resetHashKey).(string)
	return hash
}

func (h *Handler) setPasswordPage(c *gin.Context) {
	hash := resetSessionHash(c)
	if _, err := h.resets.Check(c.Request.Context(), hash); err != nil {
		if errors.Is(err, models.ErrInvalidToken) {
			h.invalidResetLink(c)
			return
		}
		h.dbError(c, "check reset token", err)
		return
	}
	p := h.page(c, "Enter new password")
	p.Narrow = true
	h.render(c, http.StatusOK, components.SetPasswordPage(p, newForm(nil)))
}

func (h *Handler) setPasswordSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	ctx := c.Request.Context()
	hash := resetSessionHash(c)
	userID, err := h.resets.Check(ctx, hash)
	if errors.Is(err, models.ErrInvalidToken) {
		h.invalidResetLink(c)
		return
	}
	if err != nil {
		h.dbError(c, "check reset token", err)
		return
	}
	user, err := h.users.ByID(ctx, userID)
	if errors.Is(err, models.ErrNotFound) {
		h.invalidResetLink(c)
		return
	}
	if err != nil {
		h.dbError(c, "load user", err)
		return
	}
	form := newForm(values)
	if formMsg != "" {
		addError(form, "", formMsg)
	}
	p1, p2 := values.Get("new_password1"), values.Get("new_password2")
	checkNewPasswords(form, p1, p2, user.Username, user.Email)
	if form.HasErrors() {
		h.setPasswordForm(c, http.StatusUnprocessableEntity, form)
		return
	}
	user, err = h.users.ResetPassword(ctx, hash, p1)
	var verr *models.ValidationError
	switch {
	case errors.Is(err, models.ErrInvalidToken):
		h.invalidResetLink(c)
		return
	case errors.As(err, &verr):
		for _, m := range verr.Fields["password"] {
			addError(form, "new_password1", m)
		}
		h.setPasswordForm(c, http.StatusUnprocessableEntity, form)
		return
	case errors.Is(err, models.ErrBusy):
		c.Header("Retry-After", "5")
		addError(form, "", busyError)
		h.setPasswordForm(c, http.StatusServiceUnavailable, form)
		return
	case err != nil:
		h.dbError(c, "reset password", err)
		return
	}
	// Every session of the user is gone (ResetPassword deleted the rows).
	// This browser gets a fresh session too, signed in as nobody if it was
	// signed in as that user: Django does not log in after a reset either.
	if err := h.rotateSession(c); err != nil {
		h.dbError(c, "rotate session", err)
		return
	}
	s := sessions.Default(c)
	s.Delete(resetHashKey)
	if cu := currentUser(c); cu != nil && cu.ID == user.ID {
		s.Delete(models.UserIDKey)
		c.Set(userKey, (*models.User)(nil))
	}
	h.audit(c, models.AuthEvent{Kind: models.EventResetCompleted, UserID: &user.ID, Username: user.Username})
	h.sendPasswordChanged(ctx, user)
	h.redirect(c, resetCompleteURL)
}

func (h *Handler) setPasswordForm(c *gin.Context, status int, form components.Form) {
	if isHTMX(c) {
		h.render(c, status, components.SetPasswordForm(form))
		return
	}
	p := h.page(c, "Enter new password")
	p.Narrow = true
	h.render(c, status, components.SetPasswordPage(p, form))
}

func (h *Handler) resetCompletePage(c *gin.Context) {
	h.render(c, http.StatusOK, components.ResetCompletePage(h.page(c, "Password reset complete")))
}

// humanDuration says d the way the e-mail should: "1 hour", "30 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
