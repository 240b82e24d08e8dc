package mail

import (
	"context"
	"strconv"
	"time"

	"gatehouse/components"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// composeAccount renders the mails of the account area (issue 13); ok is
// false for kinds it does not know.
func (w *Worker) composeAccount(ctx context.Context, m *models.OutboxMessage, d map[string]string) (msg Message, ok bool, err error) {
	ttl := func() time.Duration {
		secs, _ := strconv.Atoi(d["ttl_seconds"])
		return time.Duration(max(secs, 60)) * time.Second
	}
	switch m.Kind {
	case models.KindEmailChangeConfirm:
		token, err := w.outbox.PrepareEmailChangeToken(ctx, m, ttl())
		if err != nil {
			return Message{}, true, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token), ValidFor: HumanDuration(ttl()), SiteURL: w.baseURL}
		msg, err = Compose(ctx, m.Recipient, "Confirm your new Gatehouse e-mail address", components.EmailChangeConfirmText(e), components.EmailChangeConfirmHTML(e))
		return msg, true, err
	case models.KindEmailVerify:
		token, err := w.outbox.PrepareToken(ctx, m, models.PurposeEmailVerify, ttl())
		if err != nil {
			return Message{}, true, err
		}
		e := components.EmailLinkEmail{Username: d["username"], Address: m.Recipient,
			Link: w.baseURL + route.URL(route.ConfirmEmail, token), ValidFor: HumanDuration(ttl()), SiteURL: w.baseURL}
		msg, err = Compose(ctx, m.Recipient, "Confirm your Gatehouse e-mail address", components.EmailVerifyText(e), components.EmailVerifyHTML(e))
		return msg, true, err
	case models.KindEmailChangeRequested:
		e := components.EmailChangeRequestedEmail{Username: d["username"], NewAddress: d["new"], When: humanTime(d["when"]),
			ResetURL: w.baseURL + route.URL(route.PasswordReset), SiteURL: w.baseURL}
		msg, err = Compose(ctx, m.Recipient, "A change of your Gatehouse e-mail address was requested", components.EmailChangeRequestedText(e), components.EmailChangeRequestedHTML(e))
		return msg, true, err
	case models.KindNewDevice:
		e := components.NewDeviceEmail{Username: d["username"], When: humanTime(d["when"]), IP: d["ip"], Browser: d["browser"],
			SessionsURL: w.baseURL + route.URL(route.Sessions), SiteURL: w.baseURL}
		msg, err = Compose(ctx, m.Recipient, "New sign-in to your Gatehouse account", components.NewDeviceEmailText(e), components.NewDeviceEmailHTML(e))
		return msg, true, err
	case models.KindAccountDeleted:
		e := components.GoodbyeEmail{Username: d["username"], When: humanTime(d["when"]), SiteURL: w.baseURL}
		msg, err = Compose(ctx, m.Recipient, "Your Gatehouse account was deleted", components.GoodbyeEmailText(e), components.GoodbyeEmailHTML(e))
		return msg, true, err
	}
	return Message{}, false, nil
}
