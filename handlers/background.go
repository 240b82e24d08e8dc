package handlers

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"gatehouse/components"
	"gatehouse/mail"
	"gatehouse/models"
)

// Run does the HTTP layer's background work until ctx ends: the reset-
// request worker and the mail queue. Start it beside the server and cancel
// ctx after the server has shut down; Run returns once queued reset requests
// are processed and queued mail is sent (or the drain deadline passes).
func (h *Handler) Run(ctx context.Context) {
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	mailDone := make(chan struct{})
	go func() {
		defer close(mailDone)
		h.mailq.Run(mailCtx)
	}()
	h.runResetWorker(ctx)
	// The reset worker has enqueued its last messages; now let the mail
	// queue drain and stop.
	stopMail()
	<-mailDone
}

// record stores a security event outside a request.
func (h *Handler) record(ctx context.Context, e models.AuthEvent) {
	if err := h.events.Record(ctx, e); err != nil {
		h.log.Warn("record security event", "kind", string(e.Kind), "err", err)
	}
}

// sendMail composes a message and queues it. Failures are logged, never
// shown: what the user sees does not depend on the mail server.
func (h *Handler) sendMail(ctx context.Context, to, subject string, text, html templ.Component) {
	msg, err := mail.Compose(ctx, to, subject, text, html)
	if err != nil {
		h.log.Error("compose mail", "subject", subject, "err", err)
		return
	}
	if err := h.mailq.Enqueue(msg); err != nil {
		h.log.Error("queue mail", "subject", subject, "err", err)
	}
}

// sendPasswordChanged queues the "your password was changed" notice.
func (h *Handler) sendPasswordChanged(ctx context.Context, u *models.User) {
	if u.Email == "" {
		return
	}
	e := components.PasswordChangedEmail{
		Username: u.Username,
		When:     time.Now().UTC().Format("2 Jan 2006 at 15:04 MST"),
		ResetURL: h.cfg.BaseURL + "/accounts/password_reset/",
		SiteURL:  h.cfg.BaseURL,
	}
	h.sendMail(ctx, u.Email, "Your Gatehouse password was changed",
		components.PasswordChangedEmailText(e), components.PasswordChangedEmailHTML(e))
}
