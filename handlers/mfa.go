package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	qrcode "github.com/skip2/go-qrcode"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/route"
	"gatehouse/metrics"
	"gatehouse/models"
)

// Two-factor authentication (issue 14): the pages under /accounts/2fa/,
// the second login step, passkey sign-in and the staff reset. Every change
// is one auth.Accounts flow (auth/mfa*.go); these handlers translate.

// secondStepURL is where a login with a second factor continues.
var secondStepURL = route.URL(route.SecondStep)

// requireStaffFactor sends staff without a second factor to set one up
// before the admin opens, when REQUIRE_2FA_FOR_STAFF is on.
func (h *mfaPages) requireStaffFactor(c *gin.Context) {
	if !h.cfg.Require2FAForStaff {
		c.Next()
		return
	}
	has, err := h.accounts.HasSecondFactor(c.Request.Context(), currentUser(c).ID)
	if err != nil {
		h.dbError(c, "check second factor", err)
		c.Abort()
		return
	}
	if !has {
		h.flash(c, "warning", "%s", tr(c, i18n.Message{ID: "flash.staff_must_set_up_two", Other: "Staff must set up two-factor authentication before using the admin."}))
		h.redirect(c, route.URL(route.TwoFactor))
		c.Abort()
		return
	}
	c.Next()
}

// mfaStatus loads the overview of userID's factors; false when it has
// answered with an error.
func (h *mfaPages) mfaStatus(c *gin.Context, userID uint) (components.MFAOverview, bool) {
	s, err := h.accounts.MFAStatus(c.Request.Context(), userID)
	if err != nil {
		h.dbError(c, "load factors", err)
		return components.MFAOverview{}, false
	}
	o := components.MFAOverview{
		Available: h.accounts.MFAAvailable(), PasskeysAvailable: h.accounts.PasskeysAvailable(),
		TOTP: s.TOTP, TOTPAddedAt: s.TOTPAddedAt, RecoveryLeft: s.RecoveryLeft, RecoveryTotal: s.RecoveryTotal,
		RecoveryLow: s.RecoveryLow(),
	}
	for _, p := range s.Passkeys {
		o.Passkeys = append(o.Passkeys, components.PasskeyItem{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt})
	}
	return o, true
}

func (h *mfaPages) mfaOverviewPage(c *gin.Context) {
	o, ok := h.mfaStatus(c, currentUser(c).ID)
	if !ok {
		return
	}
	o.Next = h.checkedNext(c.Query("next"))
	h.render(c, http.StatusOK, components.MFAOverviewPage(h.page(c, tr(c, i18n.Message{ID: "title.two_factor_authentication", Other: "Two-factor authentication"})), o))
}

// mfaUnavailable answers a 2FA page when SECRET_KEY is not set.
func (h *mfaPages) mfaUnavailable(c *gin.Context) {
	h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.two_factor_authentication_is_not", Other: "Two-factor authentication is not available on this site."}))
	h.redirect(c, route.URL(route.TwoFactor))
}

// factorsRefused answers a page that adds a factor for an account whose
// address is not confirmed: the user is sent to confirm it first. It
// reports whether it answered. With a (checked) next, such as the app a
// two_factor rule sent them from, the e-mail page carries the way back:
// the two-factor overview with that next, so confirming the address
// (the link carries it too) leads on to setting up the factor and then
// to the app.
func (h *mfaPages) factorsRefused(c *gin.Context, err error, next string) bool {
	if !errors.Is(err, auth.ErrFactorNeedsVerifiedEmail) {
		return false
	}
	h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.confirm_your_e_mail_address", Other: "Confirm your e-mail address before adding two-factor authentication: open the link we sent you, or send it again below."}))
	if next != "" {
		next = withNext(route.URL(route.TwoFactor), next)
	}
	h.redirect(c, withNext(components.EmailPath, next))
	return true
}

func (h *mfaPages) totpActivatePage(c *gin.Context) {
	next := h.checkedNext(c.Query("next"))
	if h.factorsRefused(c, auth.FactorsAllowed(currentUser(c)), next) {
		return
	}
	// With an authenticator already set up the page would offer a second
	// one that cannot be saved: say so on the overview (allauth redirects
	// too).
	if s, err := h.accounts.MFAStatus(c.Request.Context(), currentUser(c).ID); err != nil {
		h.dbError(c, "load factors", err)
		return
	} else if s.TOTP {
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.an_authenticator_app_is_already", Other: "An authenticator app is already set up."}))
		h.redirect(c, withNext(route.URL(route.TwoFactor), next))
		return
	}
	setup, err := h.accounts.BeginTOTP(currentUser(c))
	if errors.Is(err, auth.ErrMFAUnavailable) {
		h.mfaUnavailable(c)
		return
	}
	if err != nil {
		h.dbError(c, "totp setup", err)
		return
	}
	h.renderTOTPActivate(c, http.StatusOK, setup, newForm(nil), next)
}

func (h *mfaPages) renderTOTPActivate(c *gin.Context, status int, setup auth.TOTPSetup, form components.Form, next string) {
	png, err := qrcode.Encode(setup.URI, qrcode.Medium, 256)
	if err != nil {
		h.dbError(c, "qr code", err)
		return
	}
	view := components.TOTPActivate{Secret: setup.Secret, URI: setup.URI, State: setup.State, Next: next,
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}
	p := h.page(c, tr(c, i18n.Message{ID: "title.set_up_an_authenticator_app", Other: "Set up an authenticator app"}))
	p.Narrow = true
	h.render(c, status, components.TOTPActivatePage(p, view, form))
}

func (h *mfaPages) totpActivateSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	u := currentUser(c)
	form := newForm(values)
	state, code := values.Get("state"), values.Get("code")
	next := h.checkedNext(values.Get("next"))
	setup, serr := h.accounts.ReopenTOTP(u, state)
	if errors.Is(serr, auth.ErrMFAUnavailable) {
		h.mfaUnavailable(c)
		return
	}
	if serr != nil {
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.that_set_up_page_expired", Other: "That set-up page expired. Here is a new key: add it to your app again."}))
		h.redirect(c, withNext(route.URL(route.TOTPActivate), next))
		return
	}
	switch {
	case formMsg != "":
		addError(form, "", formMsg)
	case code == "":
		addError(form, "code", requiredError)
	}
	if form.HasErrors() {
		h.renderTOTPActivate(c, http.StatusUnprocessableEntity, setup, form, next)
		return
	}
	added, err := h.accounts.ActivateTOTP(c.Request.Context(), u.ID, h.factorSession(c), state, code)
	if h.factorsRefused(c, err, next) {
		return
	}
	switch {
	case errors.Is(err, auth.ErrWrongCode):
		addError(form, "code", "That code is not right. Check the app's clock and enter the code it shows now.")
		h.renderTOTPActivate(c, http.StatusUnprocessableEntity, setup, form, next)
		return
	case errors.Is(err, auth.ErrTOTPExists):
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.an_authenticator_app_is_already", Other: "An authenticator app is already set up."}))
		h.redirect(c, withNext(route.URL(route.TwoFactor), next))
		return
	case err != nil:
		h.dbError(c, "activate totp", err)
		return
	}
	h.factorAdded(c, added)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.the_authenticator_app_is_on", Other: "The authenticator app is on: signing in now asks for a code from it."}))
	h.showNewCodes(c, added.Codes, next, route.URL(route.TwoFactor))
}

// factorSession is this request's session as a factor's set-up names it.
func (h *mfaPages) factorSession(c *gin.Context) auth.FactorSession {
	return auth.FactorSession{ID: session(c).ID, ConfirmedWithin: h.cfg.ReauthTimeout}
}

// factorAdded makes the session raised by a factor's set-up this
// request's (a new token: a capability was added).
func (h *mfaPages) factorAdded(c *gin.Context, added auth.FactorAdded) {
	if added.Raised {
		session(c).Adopt(added.Session)
		touch(c)
	}
}

// showNewCodes shows a new set of recovery codes once (the page is
// no-store; its button leads on to next when there is one), or goes on to
// next, else to otherwise, when none were made.
func (h *mfaPages) showNewCodes(c *gin.Context, codes []string, next, otherwise string) {
	if len(codes) == 0 {
		h.redirect(c, h.safeNext(next, otherwise))
		return
	}
	h.render(c, http.StatusOK, components.RecoveryCodesShownPage(h.page(c, tr(c, i18n.Message{ID: "title.your_recovery_codes", Other: "Your recovery codes"})), codes, next))
}

func (h *mfaPages) totpDeactivateSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	err := h.accounts.DeactivateTOTP(c.Request.Context(), currentUser(c).ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.the_authenticator_app_was_already", Other: "The authenticator app was already off."}))
	case err != nil:
		h.dbError(c, "deactivate totp", err)
		return
	default:
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.the_authenticator_app_is_off", Other: "The authenticator app is off."}))
	}
	h.redirect(c, route.URL(route.TwoFactor))
}

func (h *mfaPages) recoveryCodesPage(c *gin.Context) {
	o, ok := h.mfaStatus(c, currentUser(c).ID)
	if !ok {
		return
	}
	if !o.Enabled() {
		h.redirect(c, route.URL(route.TwoFactor))
		return
	}
	h.render(c, http.StatusOK, components.RecoveryCodesPage(h.page(c, tr(c, i18n.Message{ID: "title.recovery_codes", Other: "Recovery codes"})), o.RecoveryLeft, o.RecoveryTotal))
}

func (h *mfaPages) recoveryCodesGenerateSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	codes, err := h.accounts.RegenerateRecoveryCodes(c.Request.Context(), currentUser(c).ID)
	if errors.Is(err, auth.ErrNoSecondFactor) {
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.set_up_an_authenticator_app", Other: "Set up an authenticator app or a passkey first."}))
		h.redirect(c, route.URL(route.TwoFactor))
		return
	}
	if err != nil {
		h.dbError(c, "regenerate recovery codes", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.a_new_set_of_recovery", Other: "A new set of recovery codes is ready; the old codes no longer work."}))
	h.showNewCodes(c, codes, "", route.URL(route.TwoFactor))
}

// expiredSecondStep sends a visitor whose pending login lapsed (or who has
// none) back to the login page, keeping next.
func (h *mfaPages) expiredSecondStep(c *gin.Context, next string) {
	h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.your_sign_in_expired_please", Other: "Your sign-in expired. Please enter your password again."}))
	to := h.cfg.LoginURL
	if next != "" {
		to += "?next=" + url.QueryEscape(next)
	}
	h.redirect(c, to)
}

func (h *mfaPages) secondFactorPage(c *gin.Context) {
	h.renderSecondFactor(c, http.StatusOK, newForm(nil), h.checkedNext(c.Query("next")))
}

// renderSecondFactor shows the second step (with a passkey ceremony when
// the pending user has passkeys), or sends the visitor back to log in when
// nothing is pending.
func (h *mfaPages) renderSecondFactor(c *gin.Context, status int, form components.Form, next string) {
	if currentUser(c) != nil {
		h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
		return
	}
	st := session(c)
	if st.PendingUserID == nil {
		h.expiredSecondStep(c, next)
		return
	}
	s := components.SecondFactor{Next: next}
	if cer, err := h.accounts.BeginPasskeySecondFactor(c.Request.Context(), st.ID); err == nil {
		s.HasPasskey, s.PasskeyOptions, s.PasskeyState = true, string(cer.Options), cer.State
	} else if errors.Is(err, auth.ErrSecondFactorExpired) {
		h.expiredSecondStep(c, next)
		return
	}
	p := h.page(c, tr(c, i18n.Message{ID: "title.two_factor_authentication", Other: "Two-factor authentication"}))
	p.Narrow = true
	h.render(c, status, components.SecondFactorPage(p, s, form))
}

func (h *mfaPages) secondFactorSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values)
	next := h.checkedNext(values.Get("next"))
	code := values.Get("code")
	switch {
	case formMsg != "":
		addError(form, "", formMsg)
	case code == "":
		addError(form, "code", requiredError)
	}
	show := func(status int) { h.renderSecondFactor(c, status, form, next) }
	if form.HasErrors() {
		show(http.StatusUnprocessableEntity)
		return
	}
	device := h.loginDevice(c)
	res, err := h.accounts.CompleteSecondFactor(c.Request.Context(), auth.SecondFactorInput{
		SessionID: session(c).ID, Code: code, IP: c.ClientIP(), Device: device,
	})
	switch {
	case errors.Is(err, auth.ErrSecondFactorExpired):
		h.expiredSecondStep(c, next)
		return
	case errors.Is(err, auth.ErrWrongCode):
		addError(form, "code", "That code is not valid. Codes from the app work once and change every 30 seconds.")
		show(http.StatusUnprocessableEntity)
		return
	case err != nil:
		h.formFailure(c, "second factor", err, form, "wrong codes", nil, show)
		return
	}
	h.completeSecondStep(c, res, next, device)
}

// completeSecondStep adopts the signed-in session a second step created.
func (h *mfaPages) completeSecondStep(c *gin.Context, res *auth.SecondFactorResult, next, device string) {
	h.signedIn(c, &res.LoginResult)
	h.rememberDevice(c, device)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.welcome_back", Other: "Welcome back, {{.Name}}!"}, map[string]any{"Name": res.User.Username}))
	if res.RecoveryLeft >= 0 {
		level := "info"
		if res.RecoveryLeft <= auth.RecoveryCodesLow {
			level = "warning"
		}
		h.flashLink(c, level, route.URL(route.RecoveryCodes), tr(c, i18n.Message{ID: "flash.recovery_new_set", Other: "Make a new set"}), "%s",
			locale.N(c.Request.Context(), i18n.Message{ID: "flash.recovery_used", One: "You used a recovery code; {{.Count}} left.", Other: "You used a recovery code; {{.Count}} left."}, res.RecoveryLeft))
	}
	h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
}

func (h *mfaPages) secondFactorPasskeySubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.checkedNext(values.Get("next"))
	device := h.loginDevice(c)
	res, err := h.accounts.PasskeySecondFactor(c.Request.Context(), session(c).ID, values.Get("state"), []byte(values.Get("credential")), device)
	switch {
	case errors.Is(err, auth.ErrSecondFactorExpired):
		h.expiredSecondStep(c, next)
		return
	case errors.Is(err, auth.ErrPasskeyFailed), errors.Is(err, auth.ErrMFAUnavailable):
		form := newForm(values)
		addError(form, "", "The passkey could not be verified. Try again or enter a code.")
		h.renderSecondFactor(c, http.StatusUnprocessableEntity, form, next)
		return
	case err != nil:
		form := newForm(values)
		h.formFailure(c, "passkey second factor", err, form, "wrong codes", nil, func(status int) { h.renderSecondFactor(c, status, form, next) })
		return
	}
	h.completeSecondStep(c, res, next, device)
}

// passkeyLoginOptions answers the login page's script with a discoverable
// sign-in ceremony (options and sealed state); {"available": false}
// without passkeys. It
// writes nothing: no row, no cookie.
func (h *mfaPages) passkeyLoginOptions(c *gin.Context) {
	cer, err := h.accounts.BeginPasskeyLogin()
	if errors.Is(err, auth.ErrMFAUnavailable) {
		// Not an error for the page: the script keeps the button hidden.
		c.JSON(http.StatusOK, gin.H{"available": false})
		return
	}
	if err != nil {
		h.dbError(c, "passkey options", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"available": true, "options": cer.Options, "state": cer.State})
}

func (h *mfaPages) passkeyLoginSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	next := h.checkedNext(values.Get("next"))
	if currentUser(c) != nil {
		h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
		return
	}
	device := h.loginDevice(c)
	res, err := h.accounts.PasskeyLogin(c.Request.Context(), auth.PasskeyLoginInput{
		SessionID: session(c).ID, State: values.Get("state"), Response: []byte(values.Get("credential")),
		IP: c.ClientIP(), Remember: values.Get("remember") == "on", Device: device,
	})
	form := newForm(nil)
	show := func(status int) { h.loginForm(c, status, form, next) }
	switch {
	case errors.Is(err, auth.ErrEmailUnverified):
		addError(form, "", unverifiedLoginError) // as for a password
		show(http.StatusForbidden)
		return
	case errors.Is(err, auth.ErrPasskeyFailed), errors.Is(err, auth.ErrMFAUnavailable):
		addError(form, "", "That passkey could not be verified. Try again, or sign in with your password.")
		show(http.StatusUnprocessableEntity)
		return
	case err != nil:
		if errors.As(err, new(*auth.ThrottledError)) {
			h.cfg.Metrics.Login(metrics.LoginThrottled)
		}
		h.formFailure(c, "passkey login", err, form, "failed sign-ins", nil, show)
		return
	}
	h.signedIn(c, res)
	h.rememberDevice(c, device)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.welcome_back", Other: "Welcome back, {{.Name}}!"}, map[string]any{"Name": res.User.Username}))
	h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
}

func (h *mfaPages) passkeysPage(c *gin.Context) {
	h.renderPasskeys(c, http.StatusOK, newForm(nil), h.checkedNext(c.Query("next")))
}

func (h *mfaPages) renderPasskeys(c *gin.Context, status int, form components.Form, next string) {
	if !h.accounts.PasskeysAvailable() {
		h.mfaUnavailable(c)
		return
	}
	u := currentUser(c)
	if h.factorsRefused(c, auth.FactorsAllowed(u), next) {
		return
	}
	o, ok := h.mfaStatus(c, u.ID)
	if !ok {
		return
	}
	if len(o.Passkeys) >= h.accounts.MaxPasskeys() {
		h.render(c, status, components.PasskeysPage(h.page(c, tr(c, i18n.Message{ID: "title.passkeys", Other: "Passkeys"})), o.Passkeys, components.PasskeyAdd{Full: true, Next: next}, form))
		return
	}
	cer, err := h.accounts.BeginPasskeyRegistration(c.Request.Context(), u, session(c).ID)
	if err != nil {
		h.dbError(c, "passkey registration", err)
		return
	}
	h.render(c, status, components.PasskeysPage(h.page(c, tr(c, i18n.Message{ID: "title.passkeys", Other: "Passkeys"})), o.Passkeys,
		components.PasskeyAdd{Options: string(cer.Options), State: cer.State, Next: next}, form))
}

func (h *mfaPages) passkeyAddSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "name")
	next := h.checkedNext(values.Get("next"))
	if formMsg != "" {
		addError(form, "", formMsg)
		h.renderPasskeys(c, http.StatusUnprocessableEntity, form, next)
		return
	}
	added, err := h.accounts.FinishPasskeyRegistration(c.Request.Context(), currentUser(c), h.factorSession(c),
		values.Get("state"), values.Get("name"), []byte(values.Get("credential")))
	if h.factorsRefused(c, err, next) {
		return
	}
	switch {
	case errors.Is(err, auth.ErrTooManyPasskeys):
		addError(form, "", "This account has as many passkeys as it may have. Remove one to add another.")
		h.renderPasskeys(c, http.StatusUnprocessableEntity, form, next)
		return
	case errors.Is(err, auth.ErrPasskeyFailed), errors.Is(err, auth.ErrMFAUnavailable):
		addError(form, "", "The passkey could not be added (it did not verify, the page expired, or it is already registered). Try again.")
		h.renderPasskeys(c, http.StatusUnprocessableEntity, form, next)
		return
	case err != nil:
		h.formFailure(c, "add passkey", err, form, "", nil, func(status int) { h.renderPasskeys(c, status, form, next) })
		return
	}
	h.factorAdded(c, added)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.passkey_added", Other: "Passkey added."}))
	h.showNewCodes(c, added.Codes, next, route.URL(route.Passkeys))
}

func (h *mfaPages) passkeyRemoveSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	id, err := strconv.ParseUint(c.Param("pid"), 10, 32)
	if err != nil || id == 0 {
		h.errorResponse(c, http.StatusNotFound)
		return
	}
	err = h.accounts.RemovePasskey(c.Request.Context(), currentUser(c).ID, uint(id))
	switch {
	case errors.Is(err, models.ErrNotFound):
		h.errorResponse(c, http.StatusNotFound)
		return
	case err != nil:
		h.dbError(c, "remove passkey", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.passkey_removed", Other: "Passkey removed."}))
	h.redirect(c, route.URL(route.Passkeys))
}

func (h *mfaPages) adminMFAPage(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	o, ok := h.mfaStatus(c, target.ID)
	if !ok {
		return
	}
	h.render(c, http.StatusOK, components.AdminMFAPage(h.page(c, tr(c, i18n.Message{ID: "mfa.admin_title", Other: "Two-factor authentication of {{.Name}}"}, map[string]any{"Name": target.Username})), target.Username, target.ID, o))
}

func (h *mfaPages) adminMFAResetSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	err := h.accounts.AdminResetMFA(c.Request.Context(), currentUser(c).ID, target.ID)
	switch {
	case errors.Is(err, auth.ErrNotAllowed):
		h.errorResponse(c, http.StatusForbidden)
		return
	case err != nil:
		h.dbError(c, "reset 2fa", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.mfa_reset", Other: "Two-factor authentication of {{.Name}} was reset; they have been told by e-mail."}, map[string]any{"Name": target.Username}))
	h.redirect(c, route.URL(route.AdminMFA, target.ID))
}
