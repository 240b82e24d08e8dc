package models

import "strings"

// EventInfo is what the app says about one kind of security event, in one
// place: the words people read (their activity page, the admin's event
// lists and filter) for the kind. The kind itself is its metric label and
// its filter value.
type EventInfo struct {
	Kind  EventKind
	Words string
}

// EventKinds is every kind of security event, in the order the admin's
// filter offers them. A kind missing here would show up raw; the test
// TestEveryEventKindHasWords reads the code for EventKind constants and
// fails first.
var EventKinds = []EventInfo{
	{EventLoginSucceeded, "Signed in"},
	{EventLoginFailed, "Failed sign-in attempt"},
	{EventLoginThrottled, "Sign-ins blocked after too many attempts"},
	{EventSecondFactorPending, "Password accepted; second step due"},
	{EventSecondFactorFailed, "Wrong code or failed passkey at the second step"},
	{EventSecondFactorThrottle, "Second-step codes blocked after too many attempts"},
	{EventNewDevice, "Signed in from a new browser"},
	{EventLogout, "Signed out"},
	{EventSignup, "Account created"},
	{EventSignupThrottled, "Sign-ups blocked after too many attempts"},
	{EventPasswordChanged, "Password changed"},
	{EventPasswordChangeFailed, "Wrong current password on the password form"},
	{EventPasswordChangeThrottled, "Password attempts blocked"},
	{EventResetRequested, "Password reset requested"},
	{EventResetCompleted, "Password reset"},
	{EventResetThrottled, "Password reset requests blocked"},
	{EventPasswordSet, "Password set by staff"},
	{EventPasswordSetCLI, "Password set from the command line"},
	{EventReauthenticated, "Identity confirmed for a sensitive action"},
	{EventReauthFailed, "Wrong password when confirming a sensitive action"},
	{EventReauthFactorFailed, "Wrong code or failed passkey when confirming a sensitive action"},
	{EventReauthThrottled, "Confirmations blocked after too many attempts"},
	{EventFactorAdded, "Two-factor method added"},
	{EventFactorRemoved, "Two-factor method removed"},
	{EventRecoveryCodeUsed, "Recovery code used"},
	{EventRecoveryCodesNew, "New recovery codes made"},
	{EventMFAReset, "Two-factor authentication reset by staff"},
	{EventEmailChangeRequested, "E-mail change requested"},
	{EventEmailChanged, "E-mail address changed"},
	{EventEmailVerified, "E-mail address confirmed"},
	{EventEmailMailThrottled, "Confirmation e-mails blocked after too many requests"},
	{EventSessionRevoked, "Sessions signed out"},
	{EventAdminAction, "Changed by staff"},
	{EventUserDeactivated, "Account deactivated"},
	{EventPrivilegesChanged, "Privileges changed"},
	{EventUserCreated, "Account created by staff"},
	{EventUserDeleted, "Account deleted"},
	{EventAccountDeleteFailed, "Wrong password on the delete-account form"},
	{EventSocialConnected, "Sign-in through another provider connected"},
	{EventSocialDisconnected, "Sign-in through another provider disconnected"},
	{EventSocialRefused, "Sign-in through another provider refused: its address belongs to this account"},
	{EventGroupCreated, "Group created"},
	{EventGroupRenamed, "Group renamed"},
	{EventGroupDeleted, "Group deleted"},
	{EventGroupsChanged, "Groups changed"},
	{EventForwardDenied, "Refused entry to a protected app"},
	{EventForwardStepUp, "Asked for a second factor to enter a protected app"},
	{EventOIDCGrant, "Signed in to an app with Gatehouse"},
	{EventOIDCConsent, "Allowed an app to see account details"},
	{EventOIDCAccessRemoved, "Removed an app's access"},
	{EventOIDCRevoked, "An app gave up its access"},
	{EventOIDCTokenReuse, "An app's used code or token came back; its sign-in was revoked"},
	{EventOIDCClientAdded, "App registered for signing in with Gatehouse"},
	{EventOIDCClientChanged, "App's sign-in settings changed"},
	{EventOIDCClientSecret, "App given a new secret"},
	{EventOIDCClientRemoved, "App removed from signing in with Gatehouse"},
}

var eventInfo = func() map[EventKind]EventInfo {
	m := make(map[EventKind]EventInfo, len(EventKinds))
	for _, e := range EventKinds {
		m[e.Kind] = e
	}
	return m
}()

// EventWords is kind in words; a kind not in EventKinds (a row written by
// another release) is shown as its name with spaces.
func EventWords(kind EventKind) string {
	if e, ok := eventInfo[kind]; ok {
		return e.Words
	}
	return strings.ReplaceAll(string(kind), "_", " ")
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
