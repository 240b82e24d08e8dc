package models

import (
	"context"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/locale"
)

// EventInfo is what the app says about one kind of security event, in one
// place: the words people read (their activity page, the admin's event
// lists and filter) for the kind. The kind itself is its metric label and
// its filter value.
type EventInfo struct {
	Kind  EventKind
	Words i18n.Message
}

// EventKinds is every kind of security event, in the order the admin's
// filter offers them. A kind missing here would show up raw; the test
// TestEveryEventKindHasWords reads the code for EventKind constants and
// fails first.
var EventKinds = []EventInfo{
	{EventLoginSucceeded, i18n.Message{ID: "event.login_succeeded", Other: "Signed in"}},
	{EventLoginFailed, i18n.Message{ID: "event.login_failed", Other: "Failed sign-in attempt"}},
	{EventLoginThrottled, i18n.Message{ID: "event.login_throttled", Other: "Sign-ins blocked after too many attempts"}},
	{EventSecondFactorPending, i18n.Message{ID: "event.second_factor_pending", Other: "Password accepted; second step due"}},
	{EventSecondFactorFailed, i18n.Message{ID: "event.second_factor_failed", Other: "Wrong code or failed passkey at the second step"}},
	{EventSecondFactorThrottle, i18n.Message{ID: "event.second_factor_throttle", Other: "Second-step codes blocked after too many attempts"}},
	{EventNewDevice, i18n.Message{ID: "event.new_device", Other: "Signed in from a new browser"}},
	{EventLogout, i18n.Message{ID: "event.logout", Other: "Signed out"}},
	{EventSignup, i18n.Message{ID: "event.signup", Other: "Account created"}},
	{EventSignupThrottled, i18n.Message{ID: "event.signup_throttled", Other: "Sign-ups blocked after too many attempts"}},
	{EventPasswordChanged, i18n.Message{ID: "event.password_changed", Other: "Password changed"}},
	{EventPasswordChangeFailed, i18n.Message{ID: "event.password_change_failed", Other: "Wrong current password on the password form"}},
	{EventPasswordChangeThrottled, i18n.Message{ID: "event.password_change_throttled", Other: "Password attempts blocked"}},
	{EventResetRequested, i18n.Message{ID: "event.reset_requested", Other: "Password reset requested"}},
	{EventResetCompleted, i18n.Message{ID: "event.reset_completed", Other: "Password reset"}},
	{EventResetThrottled, i18n.Message{ID: "event.reset_throttled", Other: "Password reset requests blocked"}},
	{EventPasswordSet, i18n.Message{ID: "event.password_set", Other: "Password set by staff"}},
	{EventPasswordSetCLI, i18n.Message{ID: "event.password_set_c_l_i", Other: "Password set from the command line"}},
	{EventReauthenticated, i18n.Message{ID: "event.reauthenticated", Other: "Identity confirmed for a sensitive action"}},
	{EventReauthFailed, i18n.Message{ID: "event.reauth_failed", Other: "Wrong password when confirming a sensitive action"}},
	{EventReauthFactorFailed, i18n.Message{ID: "event.reauth_factor_failed", Other: "Wrong code or failed passkey when confirming a sensitive action"}},
	{EventReauthThrottled, i18n.Message{ID: "event.reauth_throttled", Other: "Confirmations blocked after too many attempts"}},
	{EventFactorAdded, i18n.Message{ID: "event.factor_added", Other: "Two-factor method added"}},
	{EventFactorRemoved, i18n.Message{ID: "event.factor_removed", Other: "Two-factor method removed"}},
	{EventRecoveryCodeUsed, i18n.Message{ID: "event.recovery_code_used", Other: "Recovery code used"}},
	{EventRecoveryCodesNew, i18n.Message{ID: "event.recovery_codes_new", Other: "New recovery codes made"}},
	{EventMFAReset, i18n.Message{ID: "event.m_f_a_reset", Other: "Two-factor authentication reset by staff"}},
	{EventEmailChangeRequested, i18n.Message{ID: "event.email_change_requested", Other: "E-mail change requested"}},
	{EventEmailChanged, i18n.Message{ID: "event.email_changed", Other: "E-mail address changed"}},
	{EventEmailVerified, i18n.Message{ID: "event.email_verified", Other: "E-mail address confirmed"}},
	{EventEmailMailThrottled, i18n.Message{ID: "event.email_mail_throttled", Other: "Confirmation e-mails blocked after too many requests"}},
	{EventSessionRevoked, i18n.Message{ID: "event.session_revoked", Other: "Sessions signed out"}},
	{EventAdminAction, i18n.Message{ID: "event.admin_action", Other: "Changed by staff"}},
	{EventUserDeactivated, i18n.Message{ID: "event.user_deactivated", Other: "Account deactivated"}},
	{EventPrivilegesChanged, i18n.Message{ID: "event.privileges_changed", Other: "Privileges changed"}},
	{EventUserCreated, i18n.Message{ID: "event.user_created", Other: "Account created by staff"}},
	{EventUserDeleted, i18n.Message{ID: "event.user_deleted", Other: "Account deleted"}},
	{EventAccountDeleteFailed, i18n.Message{ID: "event.account_delete_failed", Other: "Wrong password on the delete-account form"}},
	{EventSocialConnected, i18n.Message{ID: "event.social_connected", Other: "Sign-in through another provider connected"}},
	{EventSocialDisconnected, i18n.Message{ID: "event.social_disconnected", Other: "Sign-in through another provider disconnected"}},
	{EventSocialRefused, i18n.Message{ID: "event.social_refused", Other: "Sign-in through another provider refused: its address belongs to this account"}},
	{EventGroupCreated, i18n.Message{ID: "event.group_created", Other: "Group created"}},
	{EventGroupRenamed, i18n.Message{ID: "event.group_renamed", Other: "Group renamed"}},
	{EventGroupDeleted, i18n.Message{ID: "event.group_deleted", Other: "Group deleted"}},
	{EventGroupsChanged, i18n.Message{ID: "event.groups_changed", Other: "Groups changed"}},
	{EventForwardDenied, i18n.Message{ID: "event.forward_denied", Other: "Refused entry to a protected app"}},
	{EventForwardStepUp, i18n.Message{ID: "event.forward_step_up", Other: "Asked for a second factor to enter a protected app"}},
	{EventOIDCGrant, i18n.Message{ID: "event.oidc_grant", Other: "Signed in to an app with Gatehouse"}},
	{EventOIDCConsent, i18n.Message{ID: "event.oidc_consent", Other: "Allowed an app to see account details"}},
	{EventOIDCAccessRemoved, i18n.Message{ID: "event.oidc_access_removed", Other: "Removed an app's access"}},
	{EventOIDCRevoked, i18n.Message{ID: "event.oidc_revoked", Other: "An app gave up its access"}},
	{EventOIDCTokenReuse, i18n.Message{ID: "event.oidc_token_reuse", Other: "An app's used code or token came back; its sign-in was revoked"}},
	{EventOIDCClientAdded, i18n.Message{ID: "event.oidc_client_added", Other: "App registered for signing in with Gatehouse"}},
	{EventOIDCClientChanged, i18n.Message{ID: "event.oidc_client_changed", Other: "App's sign-in settings changed"}},
	{EventOIDCClientSecret, i18n.Message{ID: "event.oidc_client_secret", Other: "App given a new secret"}},
	{EventOIDCClientRemoved, i18n.Message{ID: "event.oidc_client_removed", Other: "App removed from signing in with Gatehouse"}},
}

var eventInfo = func() map[EventKind]EventInfo {
	m := make(map[EventKind]EventInfo, len(EventKinds))
	for _, e := range EventKinds {
		m[e.Kind] = e
	}
	return m
}()

// EventWords is kind in words, in the language of ctx's reader; a kind
// not in EventKinds (a row written by another release) is shown as its name
// with spaces.
func EventWords(ctx context.Context, kind EventKind) string {
	if e, ok := eventInfo[kind]; ok {
		return locale.T(ctx, e.Words)
	}
	return strings.ReplaceAll(string(kind), "_", " ")
}

// EventWordsMessage is kind's words as a message, for a caller that
// translates later; an unknown kind's is its name with spaces.
func EventWordsMessage(kind EventKind) i18n.Message {
	if e, ok := eventInfo[kind]; ok {
		return e.Words
	}
	return i18n.Message{ID: "event.unknown." + string(kind), Other: strings.ReplaceAll(string(kind), "_", " ")}
}

// KnownEventKind reports whether name is a kind of EventKinds.
func KnownEventKind(name string) (EventKind, bool) {
	_, ok := eventInfo[EventKind(name)]
	return EventKind(name), ok
}

// EventMetricLabel is kind as a metric label: itself when known, else
// "other", so labels stay a fixed set.
func EventMetricLabel(kind EventKind) string {
	if _, ok := eventInfo[kind]; ok {
		return string(kind)
	}
	return "other"
}

// Security events of two-factor authentication.
const (
	EventFactorAdded          EventKind = "mfa_factor_added"
	EventFactorRemoved        EventKind = "mfa_factor_removed"
	EventRecoveryCodeUsed     EventKind = "mfa_recovery_code_used"
	EventRecoveryCodesNew     EventKind = "mfa_recovery_codes_generated"
	EventSecondFactorPending  EventKind = "login_second_factor_due"
	EventSecondFactorFailed   EventKind = "login_second_factor_failed"
	EventSecondFactorThrottle EventKind = "login_second_factor_throttled"
	EventMFAReset             EventKind = "mfa_reset_by_staff"
)

const (
	// EventNewDevice: a sign-in from a browser the account had not used.
	EventNewDevice EventKind = "new_device_sign_in"
	// EventAccountDeleteFailed: a wrong password on the delete form.
	EventAccountDeleteFailed EventKind = "account_delete_failed"
)

// Events of the OpenID provider (internal/oidcop).
const (
	// EventOIDCGrant: an app received a sign-in (a code was approved).
	EventOIDCGrant EventKind = "oidc_grant"
	// EventOIDCConsent: the person pressed Allow on the consent page.
	EventOIDCConsent EventKind = "oidc_consent"
	// EventOIDCAccessRemoved: "Remove access" on /accounts/apps/.
	EventOIDCAccessRemoved EventKind = "oidc_access_removed"
	// EventOIDCRevoked: a client revoked a token (RFC 7009).
	EventOIDCRevoked EventKind = "oidc_token_revoked"
	// EventOIDCTokenReuse: a spent code or refresh token was presented
	// again; the family it belongs to was revoked.
	EventOIDCTokenReuse EventKind = "oidc_token_reuse"
	// EventOIDCClientAdded, EventOIDCClientChanged, EventOIDCClientSecret
	// and EventOIDCClientRemoved: staff (the actor) or the oidc-client
	// command changed which apps may sign people in, where their codes
	// go, or their secret.
	EventOIDCClientAdded   EventKind = "oidc_client_added"
	EventOIDCClientChanged EventKind = "oidc_client_changed"
	EventOIDCClientSecret  EventKind = "oidc_client_secret_rotated"
	EventOIDCClientRemoved EventKind = "oidc_client_removed"
)

// Events of the e-mail flows.
const (
	EventEmailChangeRequested EventKind = "email_change_requested"
	EventEmailChanged         EventKind = "email_changed"
	EventEmailVerified        EventKind = "email_verified"
	EventEmailMailThrottled   EventKind = "email_mail_throttled"
)

// Events of re-authentication ("sudo mode").
const (
	EventReauthenticated EventKind = "reauthenticated"
	EventReauthFailed    EventKind = "reauthentication_failed"
	EventReauthThrottled EventKind = "reauthentication_throttled"
)

// Events of re-authentication with a second factor.
const (
	EventReauthFactorFailed EventKind = "reauthentication_factor_failed"
)

// Events of groups and of forward auth.
const (
	EventGroupCreated  EventKind = "group_created"
	EventGroupRenamed  EventKind = "group_renamed"
	EventGroupDeleted  EventKind = "group_deleted"
	EventGroupsChanged EventKind = "groups_changed"
	// EventForwardDenied: a signed-in user was refused an app behind
	// forward auth (recorded at most once per user and rule a while).
	EventForwardDenied EventKind = "forward_auth_denied"
	// EventForwardStepUp: a user was sent to give (or set up) a second
	// factor for an app behind forward auth.
	EventForwardStepUp EventKind = "forward_auth_step_up"
)
