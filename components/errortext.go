package components

import (
	"context"
	"regexp"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// errorTexts translates the fixed English messages the layers below the
// views produce (internal/validate, auth, the handlers' form errors): they
// stay plain strings there, which keeps those packages free of languages,
// and a view shows them through errorText. A message missing here is shown
// in English, which the per-language page tests catch.
var errorTexts = map[string]i18n.Message{
	"This field is required.":                                                                         {ID: "error.required", Other: "This field is required."},
	"The two password fields didn't match.":                                                           {ID: "error.password_mismatch", Other: "The two password fields didn't match."},
	"This is already your e-mail address.":                                                            {ID: "error.same_email", Other: "This is already your e-mail address."},
	"Enter valid text: this contains bytes that are not UTF-8.":                                       {ID: "error.invalid_utf8", Other: "Enter valid text: this contains bytes that are not UTF-8."},
	"Enter valid text: control characters are not allowed.":                                           {ID: "error.control_characters", Other: "Enter valid text: control characters are not allowed."},
	"Ensure this value has at most 150 characters.":                                                   {ID: "error.max_150", Other: "Ensure this value has at most 150 characters."},
	"Ensure this value has at most 254 characters.":                                                   {ID: "error.max_254", Other: "Ensure this value has at most 254 characters."},
	"Enter a valid email address.":                                                                    {ID: "error.invalid_email", Other: "Enter a valid email address."},
	"This password is too short. It must contain at least 8 characters.":                              {ID: "error.password_too_short", Other: "This password is too short. It must contain at least 8 characters."},
	"This password is too long. It must contain at most 1024 characters.":                             {ID: "error.password_too_long", Other: "This password is too long. It must contain at most 1024 characters."},
	"The password is too similar to the username.":                                                    {ID: "error.password_similar_username", Other: "The password is too similar to the username."},
	"The password is too similar to the email address.":                                               {ID: "error.password_similar_email", Other: "The password is too similar to the email address."},
	"This password is too common.":                                                                    {ID: "error.password_common", Other: "This password is too common."},
	"This password is entirely numeric.":                                                              {ID: "error.password_numeric", Other: "This password is entirely numeric."},
	"Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.": {ID: "error.invalid_username", Other: "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."},
	"Please enter a correct username and password. Note that the password is case-sensitive.":         {ID: "error.login_failed", Other: "Please enter a correct username and password. Note that the password is case-sensitive."},
	"Too many sign-ins are being checked right now. Please try again in a few seconds.":               {ID: "error.login_busy", Other: "Too many sign-ins are being checked right now. Please try again in a few seconds."},
	"Too many passwords are being checked right now. Please try again in a few seconds.":              {ID: "error.password_busy", Other: "Too many passwords are being checked right now. Please try again in a few seconds."},
	"You are the last active superuser: make someone else a superuser before deleting your account.":  {ID: "error.last_superuser", Other: "You are the last active superuser: make someone else a superuser before deleting your account."},
	"Your e-mail address is not confirmed yet. We have e-mailed you a new confirmation link (at most a few an hour): open it and confirm, then sign in.": {ID: "error.email_unverified", Other: "Your e-mail address is not confirmed yet. We have e-mailed you a new confirmation link (at most a few an hour): open it and confirm, then sign in."},
	"Some of the form could not be read. Check what you entered and try again.":                                                                          {ID: "error.form_unreadable", Other: "Some of the form could not be read. Check what you entered and try again."},
	"Your old password was entered incorrectly. Please enter it again.":                                                                                  {ID: "error.old_password_wrong", Other: "Your old password was entered incorrectly. Please enter it again."},
	"Your password was entered incorrectly. Please enter it again.":                                                                                      {ID: "error.password_wrong", Other: "Your password was entered incorrectly. Please enter it again."},
	"A user with that username already exists.":                                                                                                          {ID: "error.username_taken", Other: "A user with that username already exists."},
	"A user with that email already exists.":                                                                                                             {ID: "error.email_taken", Other: "A user with that email already exists."},
	"That code is not valid. Codes from the app work once and change every 30 seconds.":                                                                  {ID: "error.code_invalid", Other: "That code is not valid. Codes from the app work once and change every 30 seconds."},
	"That code is not right. Check the app's clock and enter the code it shows now.":                                                                     {ID: "error.code_wrong_clock", Other: "That code is not right. Check the app's clock and enter the code it shows now."},
	"The passkey could not be verified. Try again or enter a code.":                                                                                      {ID: "error.passkey_second_step", Other: "The passkey could not be verified. Try again or enter a code."},
	"That passkey could not be verified. Try again, or sign in with your password.":                                                                      {ID: "error.passkey_login", Other: "That passkey could not be verified. Try again, or sign in with your password."},
	"This account has as many passkeys as it may have. Remove one to add another.":                                                                       {ID: "error.passkey_limit", Other: "This account has as many passkeys as it may have. Remove one to add another."},
	"The passkey could not be added (it did not verify, the page expired, or it is already registered). Try again.":                                      {ID: "error.passkey_add", Other: "The passkey could not be added (it did not verify, the page expired, or it is already registered). Try again."},
	"The passkey could not be verified. Try again, or use your password and a code.":                                                                     {ID: "error.passkey_reauth", Other: "The passkey could not be verified. Try again, or use your password and a code."},
	"Enter a group name.":                                                               {ID: "error.group_name_required", Other: "Enter a group name."},
	"A group name has at most 150 characters.":                                          {ID: "error.group_name_long", Other: "A group name has at most 150 characters."},
	"A group name cannot start or end with a space.":                                    {ID: "error.group_name_space", Other: "A group name cannot start or end with a space."},
	"A group name cannot contain a comma, a quote or a backslash.":                      {ID: "error.group_name_chars", Other: "A group name cannot contain a comma, a quote or a backslash."},
	"A group name cannot contain invisible characters.":                                 {ID: "error.group_name_invisible", Other: "A group name cannot contain invisible characters."},
	"A group with that name already exists.":                                            {ID: "error.group_exists", Other: "A group with that name already exists."},
	"Enter a name.":                                                                     {ID: "error.client_name_required", Other: "Enter a name."},
	"A name has at most 100 characters.":                                                {ID: "error.client_name_long", Other: "A name has at most 100 characters."},
	"A name cannot contain control characters.":                                         {ID: "error.client_name_control", Other: "A name cannot contain control characters."},
	"Enter at least one redirect URI.":                                                  {ID: "error.redirect_uri_required", Other: "Enter at least one redirect URI."},
	"At most 20 URIs.":                                                                  {ID: "error.uris_max", Other: "At most 20 URIs."},
	"Enter absolute URIs (at most 2048 characters, no spaces).":                         {ID: "error.uri_absolute", Other: "Enter absolute URIs (at most 2048 characters, no spaces)."},
	"Enter an absolute URI without a #fragment, e.g. https://app.example.com/callback.": {ID: "error.uri_fragment", Other: "Enter an absolute URI without a #fragment, e.g. https://app.example.com/callback."},
	"An http(s) URI needs a host (and no user name).":                                   {ID: "error.uri_host", Other: "An http(s) URI needs a host (and no user name)."},
	"Only public (native) clients may use a custom scheme.":                             {ID: "error.uri_custom_scheme", Other: "Only public (native) clients may use a custom scheme."},
	"Choose RS256 or ES256.":                                                            {ID: "error.id_token_alg", Other: "Choose RS256 or ES256."},
	"Enter a valid scheme.":                                                             {ID: "error.uri_scheme", Other: "Enter a valid scheme."},
	"This username is available.":                                                       {ID: "check.username_available", Other: "This username is available."},
	"This password meets the rules.":                                                    {ID: "check.password_ok", Other: "This password meets the rules."},
	"The passwords match.":                                                              {ID: "check.passwords_match", Other: "The passwords match."},
}

var invisibleChar = regexp.MustCompile(`^Enter a valid username\. This value contains an invisible character \((U\+[0-9A-F]{4,6})\)\.$`)

var invisibleCharMsg = i18n.Message{ID: "error.invisible_character", Other: "Enter a valid username. This value contains an invisible character ({{.Char}})."}

// errorText is msg in the reader's language when it is one of the known
// messages, else msg itself.
func errorText(ctx context.Context, msg string) string {
	if m, ok := errorTexts[msg]; ok {
		return T(ctx, m)
	}
	if strings.HasPrefix(msg, "Enter a valid username. This value contains") {
		if sub := invisibleChar.FindStringSubmatch(msg); sub != nil {
			return T(ctx, invisibleCharMsg, map[string]any{"Char": sub[1]})
		}
	}
	return msg
}

// ErrorText is msg, one of the fixed English messages of the layers below
// the views, in the reader's language (msg itself when unknown).
func ErrorText(ctx context.Context, msg string) string { return errorText(ctx, msg) }

// KnownErrorText reports whether msg has a translation (for the tests of
// the layers that produce messages).
func KnownErrorText(msg string) bool {
	_, ok := errorTexts[msg]
	return ok || invisibleChar.MatchString(msg)
}
