package models

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/locale"
)

// An event's detail is stored as a code (AuthEvent.DetailCode) and its
// parameters (AuthEvent.Detail, URL-encoded: "count=3", "name=Laptop"),
// never as an English sentence, and written in the reader's language when
// shown (EventDetail). A row from before the codes has no code and shows
// its stored English detail as it is.
//
// The flows pass a detail as a string (CodedDetail), so every function
// that hands one on keeps its signature; RecordEvent splits it into code
// and parameters.

// DetailCode names one kind of event detail; detailMessages has its words.
type DetailCode string

// The detail codes. A parameter named count chooses the plural form.
const (
	DetailSessionRevokedByStaff     DetailCode = "session_revoked_by_staff"
	DetailSignedOutEverywhereStaff  DetailCode = "signed_out_everywhere_by_staff"
	DetailSessionRevokedByOwner     DetailCode = "session_revoked_by_owner"
	DetailSignedOutElsewhereOwner   DetailCode = "signed_out_elsewhere_by_owner"
	DetailAuthenticatorApp          DetailCode = "authenticator_app"
	DetailPasskeyNamed              DetailCode = "passkey_named" // name
	DetailAuthenticatorsRemoved     DetailCode = "authenticators_removed"
	DetailVia                       DetailCode = "via"                 // via: a provider's name
	DetailViaProvider               DetailCode = "via_provider"        // provider, method
	DetailThroughProvider           DetailCode = "through_provider"    // provider, method
	DetailRecoveryCodesLeft         DetailCode = "recovery_codes_left" // count
	DetailOtherSessionsEnded        DetailCode = "other_sessions_ended"
	DetailSessionsEnded             DetailCode = "sessions_ended"
	DetailPasswordSetByStaff        DetailCode = "password_set_by_staff"
	DetailVerifiedByResetLink       DetailCode = "verified_by_reset_link"
	DetailFactorsRemovedByReset     DetailCode = "factors_removed_by_reset"
	DetailResetNoAccount            DetailCode = "reset_no_account"
	DetailResetThrottled            DetailCode = "reset_throttled"
	DetailResetLinkMailed           DetailCode = "reset_link_mailed"
	DetailEmailChangedByOwner       DetailCode = "email_changed_by_owner"
	DetailSignupUnconfirmed         DetailCode = "signup_unconfirmed"
	DetailLoginUnconfirmed          DetailCode = "login_unconfirmed"
	DetailEmailVerifiedSetByStaff   DetailCode = "email_verified_set_by_staff"
	DetailEmailUnverifiedSetByStaff DetailCode = "email_unverified_set_by_staff"
	DetailSocialRefusedVerified     DetailCode = "social_refused_verified"   // provider, method
	DetailSocialRefusedUnverified   DetailCode = "social_refused_unverified" // provider, method
	DetailWrongPasswordReauth       DetailCode = "wrong_password_reauth"
	DetailWrongCodeReauth           DetailCode = "wrong_code_reauth"
	DetailWrongPasswordDelete       DetailCode = "wrong_password_delete"
	DetailPasskeyNotVerified        DetailCode = "passkey_not_verified"
	DetailWithPasskey               DetailCode = "with_passkey"
	DetailSecondFactor              DetailCode = "second_factor" // method
	DetailMethod                    DetailCode = "method"        // method
	DetailDeletedByOwner            DetailCode = "deleted_by_owner"
	DetailDeletedByStaff            DetailCode = "deleted_by_staff"
	DetailCreatedByStaff            DetailCode = "created_by_staff"   // roles
	DetailCreatedByCommand          DetailCode = "created_by_command" // command, roles
	DetailGroupsAdded               DetailCode = "groups_added"       // groups
	DetailGroupsRemoved             DetailCode = "groups_removed"     // groups
	DetailGroupsAddedRemoved        DetailCode = "groups_added_removed"
	DetailGroup                     DetailCode = "group"                    // group
	DetailGroupRenamed              DetailCode = "group_renamed"            // group, name
	DetailGroupDeleted              DetailCode = "group_deleted"            // group, count: its members
	DetailGroupCreatedByCommand     DetailCode = "group_created_by_command" // group
	DetailAddedByGroupCommand       DetailCode = "added_by_group_command"   // group
	DetailRemovedByGroupCommand     DetailCode = "removed_by_group_command" // group
	DetailBlockedSeconds            DetailCode = "blocked_seconds"          // scope: the rule's, count
	DetailBlockedMinutes            DetailCode = "blocked_minutes"          // scope, count
	DetailMailRequeued              DetailCode = "mail_requeued"            // mail: its number
	DetailStaffChanged              DetailCode = "staff_changed"            // changes
	DetailStaffChangedSessions      DetailCode = "staff_changed_sessions"   // changes, count
	// The OpenID provider's: an app (client ID and name) a person signed
	// in to or gave consent to, and staff's (or the oidc-client
	// command's) changes to apps; by is the staff member's username, ""
	// for the command (byText); changed lists oidcClientFields' keys.
	DetailOIDCApp               DetailCode = "oidc_app"                 // client, name
	DetailOIDCConsent           DetailCode = "oidc_consent"             // client, name, scopes
	DetailOIDCAccessRemoved     DetailCode = "oidc_access_removed"      // client
	DetailOIDCTokenReuse        DetailCode = "oidc_token_reuse"         // client, grant
	DetailOIDCClientAdded       DetailCode = "oidc_client_added"        // by, client, name, uris
	DetailOIDCClientAddedPublic DetailCode = "oidc_client_added_public" // by, client, name, uris
	DetailOIDCClientChanged     DetailCode = "oidc_client_changed"      // by, client, name, changed
	DetailOIDCClientChangedURIs DetailCode = "oidc_client_changed_uris" // by, client, name, changed, uris
	DetailOIDCClientSecret      DetailCode = "oidc_client_secret"       // by, client
	DetailOIDCClientRemoved     DetailCode = "oidc_client_removed"      // by, client, name
)

// detailMessages are the details' words, by code. Parameters that are
// names (a passkey's, a provider's, a group's) or settings as the admin
// form names them (is_staff=true) are shown as given.
var detailMessages = []struct {
	Code DetailCode
	Msg  i18n.Message
}{
	{DetailSessionRevokedByStaff, i18n.Message{ID: "detail.session_revoked_by_staff", Other: "One session ended by staff"}},
	{DetailSignedOutEverywhereStaff, i18n.Message{ID: "detail.signed_out_everywhere_by_staff", One: "Signed out everywhere by staff: {{.Count}} session", Other: "Signed out everywhere by staff: {{.Count}} sessions"}},
	{DetailSessionRevokedByOwner, i18n.Message{ID: "detail.session_revoked_by_owner", Other: "One session ended by its owner"}},
	{DetailSignedOutElsewhereOwner, i18n.Message{ID: "detail.signed_out_elsewhere_by_owner", One: "Signed out everywhere else by the owner: {{.Count}} session", Other: "Signed out everywhere else by the owner: {{.Count}} sessions"}},
	{DetailAuthenticatorApp, i18n.Message{ID: "detail.authenticator_app", Other: "An authenticator app"}},
	{DetailPasskeyNamed, i18n.Message{ID: "detail.passkey_named", Other: "The passkey “{{.Name}}”"}},
	{DetailAuthenticatorsRemoved, i18n.Message{ID: "detail.authenticators_removed", One: "{{.Count}} authenticator removed", Other: "{{.Count}} authenticators removed"}},
	{DetailVia, i18n.Message{ID: "detail.via", Other: "Through {{.Via}}"}},
	{DetailViaProvider, i18n.Message{ID: "detail.via_provider", Other: "Through {{.Provider}} ({{.Method}})"}},
	{DetailThroughProvider, i18n.Message{ID: "detail.through_provider", Other: "Signed up through {{.Provider}} ({{.Method}})"}},
	{DetailRecoveryCodesLeft, i18n.Message{ID: "detail.recovery_codes_left", One: "{{.Count}} recovery code left", Other: "{{.Count}} recovery codes left"}},
	{DetailOtherSessionsEnded, i18n.Message{ID: "detail.other_sessions_ended", One: "{{.Count}} other session ended", Other: "{{.Count}} other sessions ended"}},
	{DetailSessionsEnded, i18n.Message{ID: "detail.sessions_ended", One: "{{.Count}} session ended", Other: "{{.Count}} sessions ended"}},
	{DetailPasswordSetByStaff, i18n.Message{ID: "detail.password_set_by_staff", One: "Password set by staff; {{.Count}} session ended", Other: "Password set by staff; {{.Count}} sessions ended"}},
	{DetailVerifiedByResetLink, i18n.Message{ID: "detail.verified_by_reset_link", Other: "By a password reset link"}},
	{DetailFactorsRemovedByReset, i18n.Message{ID: "detail.factors_removed_by_reset", Other: "Factors added before the address was confirmed, removed by a password reset"}},
	{DetailResetNoAccount, i18n.Message{ID: "detail.reset_no_account", Other: "No active account has this address"}},
	{DetailResetThrottled, i18n.Message{ID: "detail.reset_throttled", Other: "Not sent: an unused link was mailed recently"}},
	{DetailResetLinkMailed, i18n.Message{ID: "detail.reset_link_mailed", Other: "Link mailed"}},
	{DetailEmailChangedByOwner, i18n.Message{ID: "detail.email_changed_by_owner", One: "By the owner; {{.Count}} other session ended", Other: "By the owner; {{.Count}} other sessions ended"}},
	{DetailSignupUnconfirmed, i18n.Message{ID: "detail.signup_unconfirmed", Other: "Not signed in until the address is confirmed"}},
	{DetailLoginUnconfirmed, i18n.Message{ID: "detail.login_unconfirmed", Other: "E-mail address not confirmed; a new link was sent"}},
	{DetailEmailVerifiedSetByStaff, i18n.Message{ID: "detail.email_verified_set_by_staff", Other: "Address marked as confirmed by staff"}},
	{DetailEmailUnverifiedSetByStaff, i18n.Message{ID: "detail.email_unverified_set_by_staff", Other: "Address marked as not confirmed by staff"}},
	{DetailSocialRefusedVerified, i18n.Message{ID: "detail.social_refused_verified", Other: "{{.Provider}} ({{.Method}}) gave this account's address (confirmed there); sign in to connect it"}},
	{DetailSocialRefusedUnverified, i18n.Message{ID: "detail.social_refused_unverified", Other: "{{.Provider}} ({{.Method}}) gave this account's address (not confirmed there); sign in to connect it"}},
	{DetailWrongPasswordReauth, i18n.Message{ID: "detail.wrong_password_reauth", Other: "Wrong password on the re-authentication form"}},
	{DetailWrongCodeReauth, i18n.Message{ID: "detail.wrong_code_reauth", Other: "Wrong code on the re-authentication form"}},
	{DetailWrongPasswordDelete, i18n.Message{ID: "detail.wrong_password_delete", Other: "Wrong password on the delete-account form"}},
	{DetailPasskeyNotVerified, i18n.Message{ID: "detail.passkey_not_verified", Other: "The passkey did not verify"}},
	{DetailWithPasskey, i18n.Message{ID: "detail.with_passkey", Other: "With a passkey"}},
	{DetailSecondFactor, i18n.Message{ID: "detail.second_factor", Other: "Second step: {{.Method}}"}},
	{DetailMethod, i18n.Message{ID: "detail.method", Other: "With: {{.Method}}"}},
	{DetailDeletedByOwner, i18n.Message{ID: "detail.deleted_by_owner", Other: "Deleted by the owner ({{.Roles}})"}},
	{DetailDeletedByStaff, i18n.Message{ID: "detail.deleted_by_staff", Other: "Deleted by staff ({{.Roles}})"}},
	{DetailCreatedByStaff, i18n.Message{ID: "detail.created_by_staff", Other: "Created by staff: {{.Roles}}"}},
	{DetailCreatedByCommand, i18n.Message{ID: "detail.created_by_command", Other: "Created by the {{.Command}} command: {{.Roles}}"}},
	{DetailGroupsAdded, i18n.Message{ID: "detail.groups_added", Other: "Added to {{.Groups}}"}},
	{DetailGroupsRemoved, i18n.Message{ID: "detail.groups_removed", Other: "Removed from {{.Groups}}"}},
	{DetailGroupsAddedRemoved, i18n.Message{ID: "detail.groups_added_removed", Other: "Added to {{.Added}}; removed from {{.Removed}}"}},
	{DetailGroup, i18n.Message{ID: "detail.group", Other: "Group {{.Group}}"}},
	{DetailGroupRenamed, i18n.Message{ID: "detail.group_renamed", Other: "Group {{.Group}} renamed to {{.Name}}"}},
	{DetailGroupDeleted, i18n.Message{ID: "detail.group_deleted", One: "Group {{.Group}} deleted ({{.Count}} member)", Other: "Group {{.Group}} deleted ({{.Count}} members)"}},
	{DetailGroupCreatedByCommand, i18n.Message{ID: "detail.group_created_by_command", Other: "Group {{.Group}} created by the group command"}},
	{DetailAddedByGroupCommand, i18n.Message{ID: "detail.added_by_group_command", Other: "Added to {{.Group}} by the group command"}},
	{DetailRemovedByGroupCommand, i18n.Message{ID: "detail.removed_by_group_command", Other: "Removed from {{.Group}} by the group command"}},
	{DetailBlockedSeconds, i18n.Message{ID: "detail.blocked_seconds", One: "Blocked for {{.Count}} second (rule {{.Scope}})", Other: "Blocked for {{.Count}} seconds (rule {{.Scope}})"}},
	{DetailBlockedMinutes, i18n.Message{ID: "detail.blocked_minutes", One: "Blocked for {{.Count}} minute (rule {{.Scope}})", Other: "Blocked for {{.Count}} minutes (rule {{.Scope}})"}},
	{DetailMailRequeued, i18n.Message{ID: "detail.mail_requeued", Other: "Failed mail {{.Mail}} queued again by staff"}},
	{DetailStaffChanged, i18n.Message{ID: "detail.staff_changed", Other: "Changed {{.Changes}}"}},
	{DetailStaffChangedSessions, i18n.Message{ID: "detail.staff_changed_sessions", One: "Changed {{.Changes}}; {{.Count}} session ended", Other: "Changed {{.Changes}}; {{.Count}} sessions ended"}},
	{DetailOIDCApp, i18n.Message{ID: "detail.oidc_app", Other: "App {{.Name}} ({{.Client}})"}},
	{DetailOIDCConsent, i18n.Message{ID: "detail.oidc_consent", Other: "App {{.Name}} ({{.Client}}), scopes: {{.Scopes}}"}},
	{DetailOIDCAccessRemoved, i18n.Message{ID: "detail.oidc_access_removed", Other: "Access of app {{.Client}} removed"}},
	{DetailOIDCTokenReuse, i18n.Message{ID: "detail.oidc_token_reuse", Other: "App {{.Client}}: a spent {{.Grant}} was presented again; its tokens were revoked"}},
	{DetailOIDCClientAdded, i18n.Message{ID: "detail.oidc_client_added", Other: "{{.By}}: client {{.Client}} ({{.Name}}) added, confidential, redirect URIs {{.Uris}}"}},
	{DetailOIDCClientAddedPublic, i18n.Message{ID: "detail.oidc_client_added_public", Other: "{{.By}}: client {{.Client}} ({{.Name}}) added, public, redirect URIs {{.Uris}}"}},
	{DetailOIDCClientChanged, i18n.Message{ID: "detail.oidc_client_changed", Other: "{{.By}}: client {{.Client}} ({{.Name}}): changed {{.Changed}}"}},
	{DetailOIDCClientChangedURIs, i18n.Message{ID: "detail.oidc_client_changed_uris", Other: "{{.By}}: client {{.Client}} ({{.Name}}): changed {{.Changed}}; redirect URIs now {{.Uris}}"}},
	{DetailOIDCClientSecret, i18n.Message{ID: "detail.oidc_client_secret", Other: "{{.By}}: client {{.Client}} has a new secret; the old one no longer works"}},
	{DetailOIDCClientRemoved, i18n.Message{ID: "detail.oidc_client_removed", Other: "{{.By}}: client {{.Client}} ({{.Name}}) removed with its tokens and grants"}},
}

// byWords name who changed an app: a staff member, or the oidc-client
// command (an empty by).
var (
	byStaff   = i18n.Message{ID: "detail.by_staff", Other: "by {{.Name}}"}
	byCommand = i18n.Message{ID: "detail.by_command", Other: "by the oidc-client command"}
)

func byText(ctx context.Context, by string) string {
	if by == "" {
		return locale.T(ctx, byCommand)
	}
	return locale.T(ctx, byStaff, map[string]any{"Name": by})
}

// OIDCClientFields are the settings of an app an edit may change, by
// the key a changed list stores.
var OIDCClientFields = []struct {
	Key string
	Msg i18n.Message
}{
	{"name", i18n.Message{ID: "detail.oidc_field.name", Other: "name"}},
	{"redirect_uris", i18n.Message{ID: "detail.oidc_field.redirect_uris", Other: "redirect URIs"}},
	{"post_logout_redirect_uris", i18n.Message{ID: "detail.oidc_field.post_logout_redirect_uris", Other: "post-logout redirect URIs"}},
	{"consent", i18n.Message{ID: "detail.oidc_field.consent", Other: "consent"}},
	{"groups", i18n.Message{ID: "detail.oidc_field.groups", Other: "groups"}},
	{"backchannel_logout_uri", i18n.Message{ID: "detail.oidc_field.backchannel_logout_uri", Other: "back-channel logout URI"}},
	{"id_token_alg", i18n.Message{ID: "detail.oidc_field.id_token_alg", Other: "ID token algorithm"}},
	{"nothing", i18n.Message{ID: "detail.oidc_field.nothing", Other: "nothing"}},
}

// changedText is a changed list (keys joined by commas) in words.
func changedText(ctx context.Context, keys string) string {
	var out []string
	for k := range strings.SplitSeq(keys, ",") {
		w := k
		for _, f := range OIDCClientFields {
			if f.Key == k {
				w = locale.T(ctx, f.Msg)
			}
		}
		out = append(out, w)
	}
	return strings.Join(out, ", ")
}

// methodWords are the sign-in methods (sessions' auth_method) a detail
// names; another method (a provider's) is shown as stored.
var methodWords = []struct {
	Method string
	Msg    i18n.Message
}{
	{"password", i18n.Message{ID: "detail.method.password", Other: "password"}},
	{"password+totp", i18n.Message{ID: "detail.method.password_totp", Other: "password and an authenticator app"}},
	{"password+recovery", i18n.Message{ID: "detail.method.password_recovery", Other: "password and a recovery code"}},
	{"password+passkey", i18n.Message{ID: "detail.method.password_passkey", Other: "password and a passkey"}},
	{"passkey", i18n.Message{ID: "detail.method.passkey", Other: "passkey"}},
}

func methodText(ctx context.Context, method string) string {
	for _, m := range methodWords {
		if m.Method == method {
			return locale.T(ctx, m.Msg)
		}
	}
	return method
}

var detailByCode = func() map[DetailCode]i18n.Message {
	m := make(map[DetailCode]i18n.Message, len(detailMessages))
	for _, d := range detailMessages {
		m[d.Code] = d.Msg
	}
	return m
}()

// codedMark starts a detail built by CodedDetail (a control character no
// written detail has), so RecordEvent can tell it from a free one.
const codedMark = "\x00"

// CodedDetail is the detail code with its parameters, given as name, value
// pairs (names as the message's placeholders, lower-case: "count", "name"),
// for UserEvent and the flows that pass a detail on.
func CodedDetail(code DetailCode, params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return codedMark + string(code) + codedMark + v.Encode()
}

// cutParams cuts URL-encoded parameters to at most n bytes without
// splitting an escape (%XX), so the cut parameter still decodes (its
// value shortened) and the others stay whole.
func cutParams(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	if i := strings.LastIndexByte(s, '%'); i >= 0 && i >= len(s)-2 {
		s = s[:i]
	}
	return s
}

// splitDetail moves a coded detail's code into e.DetailCode, leaving its
// parameters in e.Detail.
func (e *AuthEvent) splitDetail() {
	rest, ok := strings.CutPrefix(e.Detail, codedMark)
	if !ok {
		return
	}
	code, params, _ := strings.Cut(rest, codedMark)
	e.DetailCode, e.Detail = truncate(code, 64), cutParams(params, 512)
}

// EventDetail is e's detail in the reader's language: the code's sentence
// with its parameters, or, for a row without a code (an older one), the
// detail as stored. An unknown code (a newer version's) shows code and
// parameters.
func EventDetail(ctx context.Context, e *AuthEvent) string {
	if e.DetailCode == "" {
		return e.Detail
	}
	m, ok := detailByCode[DetailCode(e.DetailCode)]
	if !ok {
		return strings.TrimSpace(e.DetailCode + " " + e.Detail)
	}
	params, _ := url.ParseQuery(e.Detail)
	data := make(map[string]any, len(params))
	for k := range params {
		if k == "" {
			continue
		}
		data[strings.ToUpper(k[:1])+k[1:]] = params.Get(k)
	}
	if m, ok := data["Method"]; ok {
		data["Method"] = methodText(ctx, m.(string))
	}
	if b, ok := data["By"]; ok {
		data["By"] = byText(ctx, b.(string))
	}
	if c, ok := data["Changed"]; ok {
		data["Changed"] = changedText(ctx, c.(string))
	}
	if c, ok := data["Count"]; ok {
		n, _ := strconv.Atoi(c.(string))
		return locale.N(ctx, m, n, data)
	}
	return locale.T(ctx, m, data)
}
