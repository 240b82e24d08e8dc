package handlers

// The OpenID provider's pages (internal/oidcop has the flow's design
// comment). op serves authorize, token, revocation and introspection
// itself (opEndpoint), and userinfo with op's parts and our answer
// (userinfo); these handlers are the parts that
// need Gatehouse's session: /oidc/continue/ (sign in, re-authenticate,
// consent, answer the client), RP-initiated logout, the user's apps page
// and the admin's client pages. Discovery and the JWKS are served from
// memory with caching headers.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"gorm.io/gorm"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// oidcPages is the OpenID provider's area.
type oidcPages struct {
	*Handler
	provider *oidcop.Provider // nil without SECRET_KEY: every OIDC URL is 404
	off      error            // why provider is nil (core.Core.OIDCOff)
	db       *gorm.DB
	accounts *auth.Accounts
}

// scopeWords says what each scope lets an app learn.
// Keyed by the scopes' literal names (oidc.ScopeOpenID, …): goi18n
// extract cannot read a map keyed by imported names.
var scopeWords = map[string]i18n.Message{
	"openid":         {ID: "scope.openid", Other: "that you are signed in (an ID that stays the same for this app)"},
	"profile":        {ID: "scope.profile", Other: "your username"},
	"email":          {ID: "scope.email", Other: "your e-mail address and whether it is confirmed"},
	"groups":         {ID: "scope.groups", Other: "the groups you are a member of"},
	"offline_access": {ID: "scope.offline_access", Other: "to stay signed in while you are away (a refresh token)"},
}

func scopeLines(c *gin.Context, scopes []string) []components.ScopeLine {
	var out []components.ScopeLine
	for _, s := range scopes {
		if w, ok := scopeWords[s]; ok {
			out = append(out, components.ScopeLine{Scope: s, Words: tr(c, w)})
		}
	}
	return out
}

// opEndpoint hands a request to op (authorize, token, revocation,
// introspection).
func (h *oidcPages) opEndpoint(c *gin.Context) {
	if h.provider == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	h.provider.Handler().ServeHTTP(c.Writer, c.Request)
}

// userinfo is the userinfo endpoint: op's request parsing and token
// crypto, Gatehouse's lean answer (oidcop.Provider.Userinfo).
func (h *oidcPages) userinfo(c *gin.Context) {
	if h.provider == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	h.provider.Userinfo().ServeHTTP(c.Writer, c.Request)
}

// discovery serves the discovery document from memory.
func (h *oidcPages) discovery(c *gin.Context) {
	if h.provider == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("Access-Control-Allow-Origin", "*")
	c.Data(http.StatusOK, "application/json", h.provider.Discovery())
}

// jwks serves the public keys from memory (re-read every minute).
func (h *oidcPages) jwks(c *gin.Context) {
	if h.provider == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return
	}
	b, err := h.provider.JWKS()
	if err != nil {
		h.log.Error("oidc keys", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable"})
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("Access-Control-Allow-Origin", "*")
	c.Data(http.StatusOK, "application/jwk-set+json", b)
}

// messagePage answers status with a page that says msg.
func (h *oidcPages) messagePage(c *gin.Context, status int, title, msg string) {
	p := h.page(c, title)
	h.render(c, status, components.ErrorPage(p, status, msg))
}

var msgRequestGone = i18n.Message{ID: "oidc.request_gone", Other: "This sign-in request has expired or was already answered. Go back to the app and sign in again."}

var titleRequestExpired = i18n.Message{ID: "oidc.request_expired", Other: "Sign-in request expired"}

// continueFlow is where op sends the browser after /authorize (the
// client's LoginURL), and where the consent form posts. It signs the
// person in (Gatehouse's login, with next back here), re-authenticates
// for prompt=login and max_age, asks for consent once per app and
// scopes, then answers the client with a code.
func (h *oidcPages) continueFlow(c *gin.Context) {
	p := h.provider
	if p == nil {
		h.notFound(c)
		return
	}
	if c.Request.Method == http.MethodPost {
		if _, _, err := h.decodeForm(c); err != nil {
			return
		}
	}
	id := c.Query("id")
	ctx := c.Request.Context()
	pd, err := p.Pending(ctx, id)
	if errors.Is(err, oidcop.ErrRequestGone) {
		h.messagePage(c, http.StatusBadRequest, tr(c, titleRequestExpired), tr(c, msgRequestGone))
		return
	}
	if err != nil {
		h.dbError(c, "oidc request", err)
		return
	}
	r := p.WithIssuer(c.Request)
	here := route.URL(route.OIDCContinue) + "?id=" + url.QueryEscape(pd.Request.ID)
	st, u := session(c), currentUser(c)
	if u == nil {
		if pd.Prompt(oidc.PromptNone) {
			op.AuthRequestError(c.Writer, r, pd.Op, oidc.ErrLoginRequired(), p.Authorizer())
			return
		}
		h.redirect(c, route.URL(route.Login)+"?next="+url.QueryEscape(here))
		return
	}
	authTime := latest(st.AuthAt, st.ReauthAt)
	if !freshEnough(pd, authTime) {
		if pd.Prompt(oidc.PromptNone) {
			op.AuthRequestError(c.Writer, r, pd.Op, oidc.ErrLoginRequired(), p.Authorizer())
			return
		}
		h.redirect(c, route.URL(route.Reauth)+"?next="+url.QueryEscape(here))
		return
	}
	decision := ""
	if c.Request.Method == http.MethodPost {
		decision = c.PostForm("decision")
	}
	if decision == "deny" {
		op.AuthRequestError(c.Writer, r, pd.Op, oidc.ErrAccessDenied().WithDescription("the user denied access"), p.Authorizer())
		return
	}
	need, err := p.NeedsConsent(ctx, u.ID, pd)
	if err != nil {
		h.dbError(c, "oidc consent", err)
		return
	}
	consented := decision == "allow"
	if need && !consented {
		if pd.Prompt(oidc.PromptNone) {
			op.AuthRequestError(c.Writer, r, pd.Op, &oidc.Error{ErrorType: "consent_required", Description: "consent is needed"}, p.Authorizer())
			return
		}
		allowFormRedirect(c, pd.Request.RedirectURI)
		pg := h.page(c, tr(c, i18n.Message{ID: "consent.title", Other: "Sign in to {{.App}}?"}, map[string]any{"App": pd.Client.Name}))
		pg.Narrow = true
		h.render(c, http.StatusOK, components.ConsentPage(pg, components.Consent{
			RequestID: pd.Request.ID, AppName: pd.Client.Name, ClientID: pd.Client.ClientID,
			Username: u.Username, Scopes: scopeLines(c, pd.Scopes),
		}))
		return
	}
	done, err := p.Approve(ctx, oidcop.Approval{
		RequestID: pd.Request.ID, User: u, SessionID: st.ID, AuthTime: authTime,
		AuthMethod: st.AuthMethod, Consented: consented,
	})
	switch {
	case errors.Is(err, oidcop.ErrNotInGroup):
		op.AuthRequestError(c.Writer, r, pd.Op, oidc.ErrAccessDenied().WithDescription("not allowed to use this app"), p.Authorizer())
		return
	case errors.Is(err, oidcop.ErrRequestGone):
		h.messagePage(c, http.StatusBadRequest, tr(c, titleRequestExpired), tr(c, msgRequestGone))
		return
	case err != nil:
		h.dbError(c, "oidc approve", err)
		return
	}
	if !h.saveSession(c) {
		return
	}
	op.AuthResponse(done, p.Authorizer(), c.Writer, r)
}

// allowFormRedirect lets this page's form lead, through our redirect, to
// target's origin (the client's validated redirect URI): browsers apply
// CSP form-action to the redirects that follow a form's submission, so
// 'self' alone would stop the answer to the app.
func allowFormRedirect(c *gin.Context, target string) {
	u, err := url.Parse(target)
	if target == "" || err != nil || u.Scheme == "" {
		return
	}
	src := u.Scheme + ":"
	if u.Host != "" {
		src = u.Scheme + "://" + u.Host
	}
	if strings.ContainsAny(src, " ;,'\"\\") {
		return
	}
	c.Header("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+src, 1))
}

// latest is the later of two times (zero when both are nil).
func latest(a, b *time.Time) time.Time {
	var t time.Time
	if a != nil {
		t = *a
	}
	if b != nil && b.After(t) {
		t = *b
	}
	return t
}

// freshEnough applies prompt=login and max_age: the person must have
// signed in (or confirmed who they are) after the request was made, or
// within max_age seconds. op turns prompt=login into max_age=0.
func freshEnough(pd *oidcop.Pending, authTime time.Time) bool {
	if !authTime.Before(pd.Request.CreatedAt.Add(-time.Millisecond)) {
		return true
	}
	if pd.Prompt(oidc.PromptLogin) {
		return false
	}
	if m := pd.Request.MaxAge; m != nil {
		return *m > 0 && time.Since(authTime) <= time.Duration(*m)*time.Second
	}
	return true
}

// endSessionParams are the parameters RP-initiated logout takes (OpenID
// Connect RP-Initiated Logout 1.0 §2).
var endSessionParams = []string{"id_token_hint", "post_logout_redirect_uri", "state", "client_id", "logout_hint", "ui_locales"}

// endSession is RP-initiated logout. A signed-in browser is asked first
// (a cross-site GET must not sign anyone out); the confirmation posts the
// same parameters back, the browser's Gatehouse session ends, and op
// checks id_token_hint and the registered post_logout_redirect_uri and
// redirects with state.
func (h *oidcPages) endSession(c *gin.Context) {
	p := h.provider
	if p == nil {
		h.notFound(c)
		return
	}
	if c.Request.Method == http.MethodPost {
		if _, _, err := h.decodeForm(c); err != nil {
			return
		}
	}
	req, err := op.ParseEndSessionRequest(c.Request, p.Authorizer().Decoder())
	if err != nil {
		h.messagePage(c, http.StatusBadRequest, tr(c, i18n.Message{ID: "oidc.logout_not_understood", Other: "Sign-out request not understood"}), tr(c, i18n.Message{ID: "oidc.logout_malformed", Other: "The app's sign-out request was malformed."}))
		return
	}
	for _, n := range endSessionParams {
		if len(c.Request.Form.Get(n)) > 8192 {
			h.messagePage(c, http.StatusBadRequest, tr(c, i18n.Message{ID: "oidc.logout_not_understood", Other: "Sign-out request not understood"}), tr(c, i18n.Message{ID: "oidc.logout_malformed", Other: "The app's sign-out request was malformed."}))
			return
		}
	}
	if err := p.CheckEndSession(c.Request, req); err != nil {
		msg := tr(c, i18n.Message{ID: "oidc.logout_invalid", Other: "The app's sign-out request was not valid (an unknown app, a return address it did not register, or a bad ID token)."})
		h.messagePage(c, http.StatusBadRequest, tr(c, i18n.Message{ID: "oidc.logout_refused", Other: "Sign-out request refused"}), msg)
		return
	}
	st, u := session(c), currentUser(c)
	if u != nil && c.Request.Method != http.MethodPost {
		var params []components.EndSessionParam
		for _, n := range endSessionParams {
			if v := c.Request.Form.Get(n); v != "" {
				params = append(params, components.EndSessionParam{Name: n, Value: v})
			}
		}
		name := ""
		if req.ClientID != "" {
			if cl, err := models.OIDCClientByID(h.db.WithContext(c.Request.Context()), req.ClientID); err == nil {
				name = cl.Name
			}
		}
		allowFormRedirect(c, req.PostLogoutRedirectURI)
		pg := h.page(c, tr(c, i18n.Message{ID: "endsession.sign_out", Other: "Sign out"}))
		pg.Narrow = true
		h.render(c, http.StatusOK, components.EndSessionPage(pg, name, params))
		return
	}
	if u != nil || st.ID != "" {
		if err := h.accounts.Logout(c.Request.Context(), st.ID, u); err != nil {
			h.dbError(c, "logout", err)
			return
		}
		endSession(c)
		setCurrentUser(c, nil)
	}
	if !h.saveSession(c) {
		return
	}
	p.EndSession(c.Writer, c.Request)
}

// loggedOutPage ends a logout that named no registered return address.
func (h *oidcPages) loggedOutPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.LoggedOutPage(h.page(c, tr(c, i18n.Message{ID: "event.logout", Other: "Signed out"}))))
}

// appsPage lists the apps the user signed in to.
func (h *oidcPages) appsPage(c *gin.Context) {
	u := currentUser(c)
	apps, err := models.OIDCAppsOf(c.Request.Context(), h.db, u.ID)
	if err != nil {
		h.dbError(c, "list apps", err)
		return
	}
	rows := make([]components.AppRow, 0, len(apps))
	for _, a := range apps {
		rows = append(rows, components.AppRow{ClientID: a.ClientID, Name: a.Name, Scopes: scopeLines(c, strings.Fields(a.Scopes)),
			FirstUsed: a.CreatedAt, LastUsedAt: a.LastUsedAt})
	}
	h.render(c, http.StatusOK, components.AppsPage(h.page(c, tr(c, i18n.Message{ID: "nav.account.apps", Other: "Apps"})), rows))
}

// appRemoveSubmit ends the user's grant to one app.
func (h *oidcPages) appRemoveSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	u := currentUser(c)
	clientID := c.Param("client")
	if len(clientID) > 64 {
		h.notFound(c)
		return
	}
	removed, err := oidcop.RemoveAccess(c.Request.Context(), h.db, u, clientID)
	if err != nil {
		h.dbError(c, "remove app access", err)
		return
	}
	if removed {
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.app_access_removed", Other: "The app's access was removed."}))
	}
	h.redirect(c, route.URL(route.Apps))
}
