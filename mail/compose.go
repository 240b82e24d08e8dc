package mail

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// composer renders one kind of outbox message from its payload d.
type composer func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error)

// composers is the one table of the mails the outbox sends: a kind's
// subject, template and links are its entry. models.OutboxKinds lists the
// kinds; TestEveryOutboxKindComposes fails for a kind without an entry
// (KindResetRequest is a job, done by the worker's jobs function).
var composers = map[string]composer{
	models.KindPasswordReset: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		ttl := linkTTL(d)
		token, err := w.outbox.PrepareToken(ctx, m, models.PurposePasswordReset, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.ResetEmail{Username: d["username"], Link: w.baseURL + route.URL(route.ResetLink, token) + nextQuery(d),
			ValidFor: localDuration(ctx, ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.password_reset", Other: "Password reset on Gatehouse"}), components.ResetEmailText(e), components.ResetEmailHTML(e))
	},
	models.KindPasswordChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.PasswordChangedEmail{Username: d["username"], When: humanTime(ctx, d["when"]),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL,
			Reset: d["reset"] == "1", Factors: d["factors"], FactorsRemoved: d["factors_removed"] == "1",
			FactorsURL: w.baseURL + components.TwoFactorPath}
		if d["factor_totp"] != "" {
			e.Counted, e.TOTP = true, d["factor_totp"] == "true"
			e.Passkeys, _ = strconv.Atoi(d["factor_passkeys"])
			e.Codes, _ = strconv.Atoi(d["factor_codes"])
		}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.password_changed", Other: "Your Gatehouse password was changed"}), components.PasswordChangedEmailText(e), components.PasswordChangedEmailHTML(e))
	},
	models.KindEmailChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.EmailChangedEmail{Username: d["username"], When: humanTime(ctx, d["when"]), By: changedBy(ctx, d),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.email_changed", Other: "Your Gatehouse e-mail address was changed"}), components.EmailChangedEmailText(e), components.EmailChangedEmailHTML(e))
	},
	models.KindMFAChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.MFAChangedEmail{Username: d["username"], Change: d["change"], What: capitalize(d["what"]),
			Factor: d["factor"], Name: d["name"], By: changedBy(ctx, d),
			When: humanTime(ctx, d["when"]), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.mfa_changed", Other: "Two-factor authentication changed on Gatehouse"}), components.MFAChangedEmailText(e), components.MFAChangedEmailHTML(e))
	},
	models.KindRecoveryCodeUsed: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.RecoveryCodeUsedEmail{Username: d["username"], When: humanTime(ctx, d["when"]), Left: d["left"],
			IP: d["ip"], SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.recovery_code_used", Other: "A recovery code was used to sign in to Gatehouse"}), components.RecoveryCodeUsedEmailText(e), components.RecoveryCodeUsedEmailHTML(e))
	},
	models.KindSocialChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.SocialChangedEmail{Username: d["username"], Connected: d["change"] == "connected", Provider: d["provider"],
			When: humanTime(ctx, d["when"]), IP: d["ip"], ConnectionsURL: w.baseURL + route.URL(route.Connections),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, e.Subject(ctx), components.SocialChangedEmailText(e), components.SocialChangedEmailHTML(e))
	},
	models.KindEmailChangeConfirm: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		ttl := linkTTL(d)
		token, err := w.outbox.PrepareEmailChangeToken(ctx, m, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token), ValidFor: localDuration(ctx, ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.email_change_confirm", Other: "Confirm your new Gatehouse e-mail address"}), components.EmailChangeConfirmText(e), components.EmailChangeConfirmHTML(e))
	},
	models.KindEmailVerify: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		ttl := linkTTL(d)
		token, err := w.outbox.PrepareToken(ctx, m, models.PurposeEmailVerify, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token) + nextQuery(d), ValidFor: localDuration(ctx, ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.email_verify", Other: "Confirm your Gatehouse e-mail address"}), components.EmailVerifyText(e), components.EmailVerifyHTML(e))
	},
	models.KindEmailChangeRequested: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.EmailChangeRequestedEmail{Username: d["username"], NewAddress: d["new"], When: humanTime(ctx, d["when"]),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.email_change_requested", Other: "A change of your Gatehouse e-mail address was requested"}), components.EmailChangeRequestedText(e), components.EmailChangeRequestedHTML(e))
	},
	models.KindNewDevice: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.NewDeviceEmail{Username: d["username"], When: humanTime(ctx, d["when"]), IP: d["ip"], Browser: d["browser"],
			SessionsURL: w.baseURL + route.URL(route.Sessions), SiteURL: w.baseURL, Via: d["via"], Agent: d["agent"], System: d["system"]}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.new_device", Other: "New sign-in to your Gatehouse account"}), components.NewDeviceEmailText(e), components.NewDeviceEmailHTML(e))
	},
	models.KindAccountDeleted: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.GoodbyeEmail{Username: d["username"], When: humanTime(ctx, d["when"]), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, locale.T(ctx, i18n.Message{ID: "mail.subject.account_deleted", Other: "Your Gatehouse account was deleted"}), components.GoodbyeEmailText(e), components.GoodbyeEmailHTML(e))
	},
}

// compose renders a message from its kind and payload, in the language
// and time zone the payload holds (decided when the row was written:
// models.Enqueue).
func (w *Worker) compose(ctx context.Context, m *models.OutboxMessage) (Message, error) {
	c, ok := composers[m.Kind]
	if !ok {
		return Message{}, fmt.Errorf("%w: %q", errUnknownKind, m.Kind)
	}
	d := m.Data()
	ctx = locale.With(ctx, locale.For(d["lang"]).In(locale.Zone(d["tz"])))
	return c(w, ctx, m, d)
}

// linkTTL is how long a mailed link works (the payload's ttl_seconds, at
// least a minute).
func linkTTL(d map[string]string) time.Duration {
	secs, _ := strconv.Atoi(d["ttl_seconds"])
	return time.Duration(max(secs, 60)) * time.Second
}

// changedBy names who made a change a notice reports.
func changedBy(ctx context.Context, d map[string]string) string {
	if d["by"] == "staff" {
		return locale.T(ctx, i18n.Message{ID: "mail.by_staff", Other: "the site's staff"})
	}
	return locale.T(ctx, i18n.Message{ID: "mail.by_you", Other: "you"})
}

var (
	durationHours   = i18n.Message{ID: "mail.duration.hours", One: "{{.Count}} hour", Other: "{{.Count}} hours"}
	durationMinutes = i18n.Message{ID: "mail.duration.minutes", One: "{{.Count}} minute", Other: "{{.Count}} minutes"}
)

// localDuration is HumanDuration in the reader's language.
func localDuration(ctx context.Context, d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return locale.N(ctx, durationHours, int(d/time.Hour))
	case d%time.Minute == 0:
		return locale.N(ctx, durationMinutes, int(d/time.Minute))
	}
	return d.String()
}

// nextQuery is "?next=…" for a link whose payload names where to go
// afterwards (a person who came from a protected app; the handler that
// receives the link checks it again), else "".
func nextQuery(d map[string]string) string {
	if d["next"] == "" {
		return ""
	}
	return "?next=" + url.QueryEscape(d["next"])
}
