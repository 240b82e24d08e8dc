package mail

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"gatehouse/components"
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
			ValidFor: HumanDuration(ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Password reset on Gatehouse", components.ResetEmailText(e), components.ResetEmailHTML(e))
	},
	models.KindPasswordChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.PasswordChangedEmail{Username: d["username"], When: humanTime(d["when"]),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL,
			Reset: d["reset"] == "1", Factors: d["factors"], FactorsRemoved: d["factors_removed"] == "1",
			FactorsURL: w.baseURL + components.TwoFactorPath}
		return Compose(ctx, m.Recipient, "Your Gatehouse password was changed", components.PasswordChangedEmailText(e), components.PasswordChangedEmailHTML(e))
	},
	models.KindEmailChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.EmailChangedEmail{Username: d["username"], When: humanTime(d["when"]), By: changedBy(d),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Your Gatehouse e-mail address was changed", components.EmailChangedEmailText(e), components.EmailChangedEmailHTML(e))
	},
	models.KindMFAChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.MFAChangedEmail{Username: d["username"], Change: d["change"], What: capitalize(d["what"]), By: changedBy(d),
			When: humanTime(d["when"]), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Two-factor authentication changed on Gatehouse", components.MFAChangedEmailText(e), components.MFAChangedEmailHTML(e))
	},
	models.KindRecoveryCodeUsed: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.RecoveryCodeUsedEmail{Username: d["username"], When: humanTime(d["when"]), Left: d["left"],
			IP: d["ip"], SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "A recovery code was used to sign in to Gatehouse", components.RecoveryCodeUsedEmailText(e), components.RecoveryCodeUsedEmailHTML(e))
	},
	models.KindSocialChanged: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.SocialChangedEmail{Username: d["username"], Connected: d["change"] == "connected", Provider: d["provider"],
			When: humanTime(d["when"]), IP: d["ip"], ConnectionsURL: w.baseURL + route.URL(route.Connections),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		subject := "Sign-in through " + e.Provider + " was connected to your Gatehouse account"
		if !e.Connected {
			subject = "Sign-in through " + e.Provider + " was disconnected from your Gatehouse account"
		}
		return Compose(ctx, m.Recipient, subject, components.SocialChangedEmailText(e), components.SocialChangedEmailHTML(e))
	},
	models.KindEmailChangeConfirm: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		ttl := linkTTL(d)
		token, err := w.outbox.PrepareEmailChangeToken(ctx, m, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token), ValidFor: HumanDuration(ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Confirm your new Gatehouse e-mail address", components.EmailChangeConfirmText(e), components.EmailChangeConfirmHTML(e))
	},
	models.KindEmailVerify: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		ttl := linkTTL(d)
		token, err := w.outbox.PrepareToken(ctx, m, models.PurposeEmailVerify, ttl)
		if err != nil {
			return Message{}, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token) + nextQuery(d), ValidFor: HumanDuration(ttl), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Confirm your Gatehouse e-mail address", components.EmailVerifyText(e), components.EmailVerifyHTML(e))
	},
	models.KindEmailChangeRequested: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.EmailChangeRequestedEmail{Username: d["username"], NewAddress: d["new"], When: humanTime(d["when"]),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "A change of your Gatehouse e-mail address was requested", components.EmailChangeRequestedText(e), components.EmailChangeRequestedHTML(e))
	},
	models.KindNewDevice: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.NewDeviceEmail{Username: d["username"], When: humanTime(d["when"]), IP: d["ip"], Browser: d["browser"],
			SessionsURL: w.baseURL + route.URL(route.Sessions), SiteURL: w.baseURL, Via: d["via"]}
		return Compose(ctx, m.Recipient, "New sign-in to your Gatehouse account", components.NewDeviceEmailText(e), components.NewDeviceEmailHTML(e))
	},
	models.KindAccountDeleted: func(w *Worker, ctx context.Context, m *models.OutboxMessage, d map[string]string) (Message, error) {
		e := components.GoodbyeEmail{Username: d["username"], When: humanTime(d["when"]), SiteURL: w.baseURL}
		return Compose(ctx, m.Recipient, "Your Gatehouse account was deleted", components.GoodbyeEmailText(e), components.GoodbyeEmailHTML(e))
	},
}

// compose renders a message from its kind and payload.
func (w *Worker) compose(ctx context.Context, m *models.OutboxMessage) (Message, error) {
	c, ok := composers[m.Kind]
	if !ok {
		return Message{}, fmt.Errorf("%w: %q", errUnknownKind, m.Kind)
	}
	return c(w, ctx, m, m.Data())
}

// linkTTL is how long a mailed link works (the payload's ttl_seconds, at
// least a minute).
func linkTTL(d map[string]string) time.Duration {
	secs, _ := strconv.Atoi(d["ttl_seconds"])
	return time.Duration(max(secs, 60)) * time.Second
}

// changedBy names who made a change a notice reports.
func changedBy(d map[string]string) string {
	if d["by"] == "staff" {
		return "the site's staff"
	}
	return "you"
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
