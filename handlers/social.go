package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/route"
	"gatehouse/internal/upstream"
	"gatehouse/models"
)

// Sign-in through other providers (django-allauth's socialaccount; the
// flow is described at the top of auth/social.go).
//
//   - The login page's "Continue with <name>" buttons POST to the
//     provider's login route (GET shows that one button: following a link
//     never starts a sign-in). The POST starts the flow, sets the flow
//     cookie (the browser binding) and answers a page that moves on to
//     the provider: a 303 to another site after a form POST would be
//     blocked by our form-action 'self'.
//   - The callback consumes the flow, then signs in (or asks for the
//     second factor), connects, or sends a new person to the short
//     sign-up form. Every failure ends on one page offering the other
//     ways in, with a 4xx/502 status, never a 500 or a redirect loop.
//   - /accounts/3rdparty/ (sudo) lists, connects and disconnects.

// socialPages is the area of sign-ins through other providers.
type socialPages struct {
	*Handler
	accounts *auth.Accounts
}

// flowCookie names the browser-binding cookie of a flow in progress.
func (h *socialPages) flowCookie() string {
	if h.secure() {
		return "__Host-upstream"
	}
	return "upstream"
}

func (h *socialPages) setFlowCookie(c *gin.Context, value string, life time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: h.flowCookie(), Value: value, Path: "/", MaxAge: int(life / time.Second),
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode,
	})
}

func (h *socialPages) clearFlowCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: h.flowCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
}

func (h *socialPages) flowBinding(c *gin.Context) string {
	ck, err := c.Request.Cookie(h.flowCookie())
	if err != nil {
		return ""
	}
	return ck.Value
}

// providerButtons is every configured provider as a login button.
func (h *Handler) providerButtons() []components.ProviderButton {
	var out []components.ProviderButton
	for _, p := range h.providers.List() {
		out = append(out, components.ProviderButton{ID: p.Config.ID, Name: p.Config.Name, Action: loginRoute(p)})
	}
	return out
}

// loginRoute and callbackRoute are p's paths.
func loginRoute(p *upstream.Provider) string {
	if p.Config.Type == upstream.TypeGitHub {
		return route.URL(route.GitHubLogin)
	}
	return route.URL(route.SocialLogin, p.Config.ID)
}

func (h *socialPages) callbackURL(p *upstream.Provider) string {
	if p.Config.Type == upstream.TypeGitHub {
		return h.cfg.BaseURL + route.URL(route.GitHubCallback)
	}
	return h.cfg.BaseURL + route.URL(route.SocialCallback, p.Config.ID)
}

// provider is the request's provider (from the route), or nil after
// answering 404.
func (h *socialPages) provider(c *gin.Context) *upstream.Provider {
	var p *upstream.Provider
	if id := c.Param("provider"); id != "" {
		p = h.providers.Get(upstream.TypeOIDC, id)
	} else {
		p = h.providers.Get(upstream.TypeGitHub, "github")
	}
	if p == nil {
		h.notFound(c)
	}
	return p
}

func (h *socialPages) socialLoginPage(c *gin.Context) {
	p := h.provider(c)
	if p == nil {
		return
	}
	next := h.flowNext(c.Query("next"))
	pg := h.page(c, tr(c, i18n.Message{ID: "social.sign_in_with", Other: "Sign in with {{.Provider}}"}, map[string]any{"Provider": p.Config.Name}))
	pg.Narrow = true
	h.render(c, http.StatusOK, components.SocialContinuePage(pg,
		components.ProviderButton{ID: p.Config.ID, Name: p.Config.Name, Action: loginRoute(p)}, next))
}

// socialLoginSubmit starts a sign-in through the provider.
func (h *socialPages) socialLoginSubmit(c *gin.Context) {
	p := h.provider(c)
	if p == nil {
		return
	}
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	h.begin(c, p, auth.BeginInput{Purpose: auth.PurposeLogin, Next: h.flowNext(values.Get("next"))})
}

// maxFlowNext is the size of social_flows.next.
const maxFlowNext = 1024

// flowNext is the next a flow keeps: one the site follows (a local path,
// or a protected app's URL within SESSION_COOKIE_DOMAIN) that fits its
// column, else "".
func (h *socialPages) flowNext(next string) string {
	if len(next) > maxFlowNext || !h.nextOK(next) {
		return ""
	}
	return next
}

// begin starts a flow and sends the browser to the provider.
func (h *socialPages) begin(c *gin.Context, p *upstream.Provider, in auth.BeginInput) {
	in.Provider, in.RedirectURL, in.IP = p, h.callbackURL(p), c.ClientIP()
	res, err := h.accounts.BeginUpstream(c.Request.Context(), in)
	if err != nil {
		h.socialError(c, p, err)
		return
	}
	h.setFlowCookie(c, res.Binding, auth.SignupFlowLifetime)
	pg := h.page(c, tr(c, i18n.Message{ID: "social.continue_to", Other: "Continue to {{.Provider}}"}, map[string]any{"Provider": p.Config.Name}))
	h.render(c, http.StatusOK, components.SocialRedirectPage(pg, p.Config.Name, res.URL))
}

// socialCallback is where the provider sends the browser back.
func (h *socialPages) socialCallback(c *gin.Context) {
	p := h.provider(c)
	if p == nil {
		return
	}
	q := c.Request.URL.Query()
	var current *uint
	if u := currentUser(c); u != nil {
		current = &u.ID
	}
	device := h.loginDevice(c)
	res, err := h.accounts.UpstreamCallback(c.Request.Context(), auth.CallbackInput{
		Provider: p, RedirectURL: h.callbackURL(p), State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"),
		Binding: h.flowBinding(c), SessionID: session(c).ID, CurrentUserID: current, Device: device,
	})
	if err != nil {
		h.clearFlowCookie(c)
		if res != nil && (res.Purpose == auth.PurposeConnect || res.Purpose == auth.PurposeReauth) && current != nil {
			h.flash(c, "error", "%s", socialErrorMessage(c, p, err))
			to := route.URL(route.Connections)
			if res.Purpose == auth.PurposeReauth {
				to = route.URL(route.Reauth) + "?next=" + url.QueryEscape(res.Next)
			}
			h.redirect(c, to)
			return
		}
		h.socialError(c, p, err)
		return
	}
	switch res.Outcome {
	case auth.UpstreamReauthenticated:
		h.clearFlowCookie(c)
		session(c).Adopt(res.Login.Session)
		touch(c)
		h.redirect(c, h.safeNext(res.Next, route.URL(route.Profile)))
		return
	case auth.UpstreamSignup:
		h.redirect(c, route.URL(route.SocialSignup))
		return
	case auth.UpstreamConnected, "":
		h.clearFlowCookie(c)
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.provider_connected", Other: "{{.Provider}} is connected: you can sign in with it."}, map[string]any{"Provider": p.Config.Name}))
		h.redirect(c, route.URL(route.Connections))
		return
	case auth.UpstreamPending:
		h.clearFlowCookie(c)
		session(c).Adopt(res.Login.Session)
		touch(c)
		h.redirect(c, secondStepURL+"?next="+url.QueryEscape(res.Next))
		return
	}
	h.clearFlowCookie(c)
	h.signedIn(c, &res.Login)
	h.rememberDevice(c, device)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.welcome_back", Other: "Welcome back, {{.Name}}!"}, map[string]any{"Name": res.Login.User.Username}))
	h.redirect(c, h.safeNext(res.Next, h.cfg.LoginRedirectURL))
}

// socialErrorMessage is what a failed flow tells the person.
func socialErrorMessage(c *gin.Context, p *upstream.Provider, err error) string {
	data := map[string]any{"Provider": p.Config.Name}
	switch {
	case errors.Is(err, auth.ErrUpstreamState):
		return tr(c, i18n.Message{ID: "social.error.state", Other: "This sign-in was not started in this browser, was already used, or took too long. Please start again."})
	case errors.Is(err, auth.ErrUpstreamDenied):
		return tr(c, i18n.Message{ID: "social.error.denied", Other: "{{.Provider}} did not sign you in (the request was cancelled or refused)."}, data)
	case errors.Is(err, auth.ErrUpstreamEmailInUse):
		return tr(c, i18n.Message{ID: "social.error.email_in_use", Other: "An account here already uses the e-mail address {{.Provider}} gave. Sign in to that account with its password, then connect {{.Provider}} from Connected accounts."}, data)
	case errors.Is(err, auth.ErrIdentityNotYours):
		return tr(c, i18n.Message{ID: "social.error.not_yours", Other: "The {{.Provider}} account you signed in with is not connected to your account here."}, data)
	case errors.Is(err, auth.ErrIdentityTaken):
		return tr(c, i18n.Message{ID: "social.error.taken", Other: "This {{.Provider}} account is already connected to another account here."}, data)
	case errors.Is(err, upstream.ErrDomain):
		return tr(c, i18n.Message{ID: "social.error.domain", Other: "Your {{.Provider}} address is not one that may sign in here."}, data)
	case errors.Is(err, upstream.ErrRejected):
		return tr(c, i18n.Message{ID: "social.error.rejected", Other: "The answer from {{.Provider}} could not be verified. Please try again."}, data)
	case errors.Is(err, upstream.ErrUnavailable):
		return tr(c, i18n.Message{ID: "social.error.unavailable", Other: "{{.Provider}} cannot be reached right now. Please try again later, or sign in another way."}, data)
	case errors.Is(err, models.ErrAccountInactive):
		return tr(c, i18n.Message{ID: "social.error.inactive", Other: "This account is inactive."})
	case errors.Is(err, auth.ErrEmailUnverified):
		return errorTextFor(c, unverifiedLoginError)
	}
	return ""
}

// socialError answers a failed flow on the error page (or the error page
// of the app for a database failure).
func (h *socialPages) socialError(c *gin.Context, p *upstream.Provider, err error) {
	var terr *auth.ThrottledError
	if errors.As(err, &terr) {
		h.cfg.Metrics.ThrottleRefused(terr.Scope)
		status, msg := tooManyRequests(c, terr.Wait, "sign-ins through other providers")
		pg := h.page(c, tr(c, i18n.Message{ID: "social.error_title", Other: "Sign-in did not complete"}))
		pg.Narrow = true
		h.render(c, status, components.SocialErrorPage(pg, msg, nil))
		return
	}
	msg := socialErrorMessage(c, p, err)
	if msg == "" {
		h.dbError(c, "upstream sign-in", err)
		return
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, upstream.ErrUnavailable):
		status = http.StatusBadGateway
	case errors.Is(err, auth.ErrUpstreamEmailInUse), errors.Is(err, auth.ErrIdentityTaken):
		status = http.StatusConflict
	case errors.Is(err, auth.ErrUpstreamDenied), errors.Is(err, upstream.ErrDomain), errors.Is(err, models.ErrAccountInactive),
		errors.Is(err, auth.ErrEmailUnverified):
		status = http.StatusForbidden
	}
	h.log.Info("upstream sign-in failed", "provider", p.Config.ID, "reason", err.Error())
	pg := h.page(c, tr(c, i18n.Message{ID: "social.error_title", Other: "Sign-in did not complete"}))
	pg.Narrow = true
	h.render(c, status, components.SocialErrorPage(pg, msg, h.providerButtons()))
}

// socialSignupPage shows the short sign-up form for the browser's waiting
// identity.
func (h *socialPages) socialSignupPage(c *gin.Context) {
	ps, err := h.accounts.UpstreamPendingSignup(c.Request.Context(), h.flowBinding(c))
	if err != nil {
		h.pendingSignupError(c, err)
		return
	}
	p := h.providers.ByID(ps.Provider)
	if p == nil {
		h.notFound(c)
		return
	}
	form := newForm(url.Values{"username": {ps.Username}, "email": {ps.Email}}, "username", "email")
	h.socialSignupForm(c, http.StatusOK, form, components.SocialSignup{Provider: p.Config.Name, EmailVerified: ps.EmailVerified})
}

func (h *socialPages) pendingSignupError(c *gin.Context, err error) {
	if errors.Is(err, auth.ErrUpstreamState) {
		pg := h.page(c, tr(c, i18n.Message{ID: "social.error_title", Other: "Sign-in did not complete"}))
		pg.Narrow = true
		h.render(c, http.StatusBadRequest, components.SocialErrorPage(pg,
			tr(c, i18n.Message{ID: "social.error.no_pending", Other: "There is no sign-in through another provider waiting in this browser, or it took too long. Please start again."}), h.providerButtons()))
		return
	}
	h.dbError(c, "upstream sign-up", err)
}

func (h *socialPages) socialSignupForm(c *gin.Context, status int, form components.Form, s components.SocialSignup) {
	h.formOrPage(c, status, components.SocialSignupForm(form, s), func() templ.Component {
		pg := h.page(c, tr(c, i18n.Message{ID: "social.signup_title", Other: "Create your account"}))
		pg.Narrow = true
		return components.SocialSignupPage(pg, form, s)
	})
}

// socialSignupSubmit creates the new person's account (auth.UpstreamSignup:
// the sign-up rules, no password, the identity attached, one transaction).
func (h *socialPages) socialSignupSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	ctx := c.Request.Context()
	binding := h.flowBinding(c)
	ps, err := h.accounts.UpstreamPendingSignup(ctx, binding)
	if err != nil {
		h.pendingSignupError(c, err)
		return
	}
	p := h.providers.ByID(ps.Provider)
	if p == nil {
		h.notFound(c)
		return
	}
	view := components.SocialSignup{Provider: p.Config.Name, EmailVerified: ps.EmailVerified}
	form := newForm(values, "username", "email")
	show := func(status int) { h.socialSignupForm(c, status, form, view) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	if err := h.accounts.TakeUsernameCheck(ctx, c.ClientIP()); err != nil {
		h.formFailure(c, "check signup throttle", err, form, "sign-up attempts", nil, show)
		return
	}
	if values.Get("username") == "" {
		addError(form, "username", requiredError)
	}
	if values.Get("email") == "" {
		addError(form, "email", requiredError)
	}
	if form.HasErrors() {
		show(http.StatusUnprocessableEntity)
		return
	}
	device := h.loginDevice(c)
	res, err := h.accounts.UpstreamSignup(ctx, auth.UpstreamSignupInput{Provider: p, Binding: binding,
		Username: values.Get("username"), Email: values.Get("email"), IP: c.ClientIP(), SessionID: session(c).ID, Device: device})
	switch {
	case errors.Is(err, models.ErrDuplicateUsername):
		addError(form, "username", usernameTakenError)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, models.ErrDuplicateEmail):
		addError(form, "email", emailTakenError)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, auth.ErrUpstreamState), errors.Is(err, auth.ErrIdentityTaken):
		h.clearFlowCookie(c)
		h.socialError(c, p, err)
		return
	case err != nil:
		h.formFailure(c, "upstream sign up", err, form, "sign-up attempts", nil, show)
		return
	}
	h.clearFlowCookie(c)
	next := h.flowNext(res.Next)
	if res.Session == (models.NewSession{}) { // EMAIL_VERIFICATION=mandatory
		h.flashVisitor(c, "success", "%s", tr(c, i18n.Message{ID: "flash.signup_confirm_first", Other: "Your account has been created. We sent a confirmation link to {{.Email}}: open it and confirm, then sign in."}, map[string]any{"Email": res.User.Email}))
		h.redirect(c, withNext(h.cfg.LoginURL, next))
		return
	}
	h.signedIn(c, res)
	h.rememberDevice(c, device)
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.welcome_social", Other: "Welcome, {{.Name}}! Your account has been created and you are signed in."}, map[string]any{"Name": res.User.Username}))
	h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
}

// connectionsPage lists the account's identities (sudo).
func (h *socialPages) connectionsPage(c *gin.Context) {
	h.renderConnections(c, http.StatusOK)
}

func (h *socialPages) renderConnections(c *gin.Context, status int) {
	u := currentUser(c)
	ids, err := h.accounts.Identities(c.Request.Context(), u.ID)
	if err != nil {
		h.dbError(c, "list identities", err)
		return
	}
	conns := make([]components.Connection, 0, len(ids))
	for _, id := range ids {
		name := id.Provider
		if p := h.providers.ByID(id.Provider); p != nil {
			name = p.Config.Name
		}
		conns = append(conns, components.Connection{ID: id.ID, Provider: name, Email: id.Email, CreatedAt: id.CreatedAt, LastUsedAt: id.LastUsedAt})
	}
	h.render(c, status, components.ConnectionsPage(h.page(c, tr(c, i18n.Message{ID: "nav.account.connections", Other: "Connected accounts"})), conns, h.providerButtons()))
}

// userProviderButtons is the configured providers connected to userID's
// account, each once.
func (h *Handler) userProviderButtons(c *gin.Context, userID uint) ([]components.ProviderButton, error) {
	if len(h.providers.List()) == 0 {
		return nil, nil
	}
	ids, err := models.ListSocialIdentities(c.Request.Context(), h.users.DB(), userID)
	if err != nil {
		return nil, err
	}
	var out []components.ProviderButton
	seen := map[string]bool{}
	for _, id := range ids {
		if p := h.providers.ByID(id.Provider); p != nil && !seen[id.Provider] {
			seen[id.Provider] = true
			out = append(out, components.ProviderButton{ID: p.Config.ID, Name: p.Config.Name, Action: loginRoute(p)})
		}
	}
	return out, nil
}

// reauthSubmit confirms it is the signed-in user by a new sign-in at one
// of their connected providers (django-allauth's reauthentication through
// a provider): the callback accepts only an identity connected to this
// account, and sets the session's confirmation as a password would.
func (h *socialPages) reauthSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	p := h.providers.ByID(values.Get("provider"))
	if p == nil {
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.no_such_provider", Other: "There is no such provider."}))
		h.redirect(c, route.URL(route.Reauth))
		return
	}
	u := currentUser(c)
	h.begin(c, p, auth.BeginInput{Purpose: auth.PurposeReauth, UserID: &u.ID, Next: h.flowNext(values.Get("next"))})
}

// connectSubmit starts connecting a provider to the signed-in account.
func (h *socialPages) connectSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	p := h.providers.ByID(values.Get("provider"))
	if p == nil {
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.no_such_provider", Other: "There is no such provider."}))
		h.redirect(c, route.URL(route.Connections))
		return
	}
	u := currentUser(c)
	h.begin(c, p, auth.BeginInput{Purpose: auth.PurposeConnect, UserID: &u.ID})
}

// disconnectSubmit removes one identity, unless it is the last way in.
func (h *socialPages) disconnectSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	id, err := strconv.ParseUint(c.Param("iid"), 10, 32)
	if err != nil {
		h.notFound(c)
		return
	}
	u := currentUser(c)
	err = h.accounts.DisconnectIdentity(c.Request.Context(), u.ID, uint(id), func(providerID string) string {
		if p := h.providers.ByID(providerID); p != nil {
			return p.Config.Name
		}
		return ""
	})
	switch {
	case errors.Is(err, auth.ErrLastWayIn):
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.last_way_in", Other: "This is the only way you can sign in. Set a password or connect another provider first."}))
		h.redirect(c, route.URL(route.Connections))
		return
	case errors.Is(err, models.ErrNotFound):
		h.notFound(c)
		return
	case err != nil:
		h.dbError(c, "disconnect identity", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.disconnected", Other: "Disconnected."}))
	h.redirect(c, route.URL(route.Connections))
}
