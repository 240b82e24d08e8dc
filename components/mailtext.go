package components

import (
	"context"
	"strconv"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// The e-mails' sentences that depend on what the payload says: each is a
// whole sentence per case (never a sentence assembled from translated
// pieces), chosen from codes the payload carries since the codes were
// added; an older row without them keeps its English words.

// agentWords are DescribeAgent's fallbacks, in words people read.
var agentWords = map[string]i18n.Message{
	"Unknown browser":  {ID: "agent.unknown_browser", Other: "Unknown browser"},
	"unknown system":   {ID: "agent.unknown_system", Other: "unknown system"},
	"Automated client": {ID: "agent.automated_client", Other: "Automated client"},
}

// deviceWords are the kinds of device DescribeAgent adds after the system
// ("Android (mobile)"), in words people read.
var deviceWords = map[string]i18n.Message{
	"mobile": {ID: "agent.device.mobile", Other: "mobile"},
	"tablet": {ID: "agent.device.tablet", Other: "tablet"},
	"tv":     {ID: "agent.device.tv", Other: "TV"},
	"bot":    {ID: "agent.device.bot", Other: "bot"},
}

// AgentWord is a browser or system name from models.DescribeAgent in the
// reader's language: product names stay, the fallbacks and the kind of
// device after the system ("Android (mobile)") are translated.
func AgentWord(ctx context.Context, s string) string {
	if m, ok := agentWords[s]; ok {
		return T(ctx, m)
	}
	if system, rest, ok := strings.Cut(s, " ("); ok && strings.HasSuffix(rest, ")") {
		device := strings.TrimSuffix(rest, ")")
		if m, ok := deviceWords[device]; ok {
			return T(ctx, i18n.Message{ID: "agent.system_device", Description: "a system and the kind of device it runs on: Android (mobile)", Other: "{{.System}} ({{.Device}})"},
				map[string]any{"System": AgentWord(ctx, system), "Device": T(ctx, m)})
		}
	}
	return s
}

// BrowserOnSystem is "Firefox 133 on Linux" in the reader's language.
func BrowserOnSystem(ctx context.Context, browser, system string) string {
	return T(ctx, i18n.Message{ID: "sessions.browser_on_system", Other: "{{.Browser}} on {{.System}}"},
		map[string]any{"Browser": AgentWord(ctx, browser), "System": AgentWord(ctx, system)})
}

// browserText is the new-browser mail's browser.
func (e NewDeviceEmail) browserText(ctx context.Context) string {
	if e.Agent == "" {
		return e.Browser
	}
	return BrowserOnSystem(ctx, e.Agent, e.System)
}

// factorsText is the account's remaining factors as a list, or "".
func (e PasswordChangedEmail) factorsText(ctx context.Context) string {
	if !e.Counted {
		return e.Factors
	}
	var parts []string
	if e.TOTP {
		parts = append(parts, T(ctx, i18n.Message{ID: "mail.factors.totp", Other: "an authenticator app"}))
	}
	if e.Passkeys > 0 {
		parts = append(parts, N(ctx, i18n.Message{ID: "mail.factors.passkeys", One: "{{.Count}} passkey", Other: "{{.Count}} passkeys"}, e.Passkeys))
	}
	if e.Codes > 0 {
		parts = append(parts, N(ctx, i18n.Message{ID: "mail.factors.codes", One: "{{.Count}} recovery code", Other: "{{.Count}} recovery codes"}, e.Codes))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return T(ctx, i18n.Message{ID: "mail.factors.and", Description: "the last two items of a list: Most is the others, joined by the separator", Other: "{{.Most}} and {{.Last}}"},
		map[string]any{"Most": strings.Join(parts[:len(parts)-1], T(ctx, i18n.Message{ID: "hub.factors.separator", Description: "between the items of a list", Other: ", "})), "Last": parts[len(parts)-1]})
}

// sentence is the factor-change notice's main sentence.
func (e MFAChangedEmail) sentence(ctx context.Context) string {
	data := map[string]any{"Name": e.Name, "Site": e.SiteURL, "By": e.By, "When": e.When}
	switch e.Change + "/" + e.Factor {
	case "added/totp":
		return T(ctx, i18n.Message{ID: "mail.mfa.totp_added", Other: "An authenticator app was added as a second factor of your account at {{.Site}} by {{.By}} on {{.When}}."}, data)
	case "removed/totp":
		return T(ctx, i18n.Message{ID: "mail.mfa.totp_removed", Other: "The authenticator app was removed from the second factors of your account at {{.Site}} by {{.By}} on {{.When}}."}, data)
	case "added/passkey":
		return T(ctx, i18n.Message{ID: "mail.mfa.passkey_added", Other: "A passkey named “{{.Name}}” was added as a second factor of your account at {{.Site}} by {{.By}} on {{.When}}."}, data)
	case "removed/passkey":
		return T(ctx, i18n.Message{ID: "mail.mfa.passkey_removed", Other: "The passkey named “{{.Name}}” was removed from the second factors of your account at {{.Site}} by {{.By}} on {{.When}}."}, data)
	case "removed/all":
		return T(ctx, i18n.Message{ID: "mail.mfa.all_removed", Other: "Every second factor of your account at {{.Site}} (authenticator app, passkeys, recovery codes) was removed by {{.By}} on {{.When}}."}, data)
	}
	return e.What + " was " + e.Change + " as a second factor of your account at " + e.SiteURL + " by " + e.By + " on " + e.When + "."
}

// left is the recovery-code notice's count of codes left.
func (e RecoveryCodeUsedEmail) left(ctx context.Context) string {
	n, err := strconv.Atoi(e.Left)
	if err != nil {
		return e.Left
	}
	return N(ctx, i18n.Message{ID: "mail.recovery.left", One: "{{.Count}} recovery code is left.", Other: "{{.Count}} recovery codes are left."}, n)
}
