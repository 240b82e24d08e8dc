package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/components"
	"gatehouse/internal/oidcop"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// The admin's pages for OpenID clients: list, add, edit, new secret,
// remove. The same rules as `gatehouse oidc-client` (oidcop.AddClient).

func (h *oidcPages) adminClientsPage(c *gin.Context) {
	rows, err := oidcop.Clients(c.Request.Context(), h.db)
	if err != nil {
		h.dbError(c, "list oidc clients", err)
		return
	}
	view := make([]components.AdminOIDCClientRow, 0, len(rows))
	for _, r := range rows {
		view = append(view, components.AdminOIDCClientRow{ClientID: r.ClientID, Name: r.Name, Public: r.Public,
			SkipConsent: r.SkipConsent, RedirectURIs: models.Lines(r.RedirectURIs)})
	}
	h.render(c, http.StatusOK, components.AdminOIDCClientsPage(h.page(c, tr(c, i18n.Message{ID: "nav.account.apps", Other: "Apps"})), view, h.providerState()))
}

// providerState is whether the provider runs, for the admin's pages.
func (h *oidcPages) providerState() components.OIDCProviderState {
	switch {
	case h.provider != nil:
		return components.OIDCProviderOn
	case errors.Is(h.off, oidcop.ErrKeysSealed):
		return components.OIDCProviderKeysSealed
	case h.off == nil || errors.Is(h.off, oidcop.ErrUnavailable):
		return components.OIDCProviderNoKey
	default:
		return components.OIDCProviderFailed
	}
}

// clientError answers a refused or failed client change: 403 when the
// actor lost staff rights meanwhile, 404 for a client removed meanwhile.
func (h *oidcPages) clientError(c *gin.Context, op string, err error) {
	switch {
	case errors.Is(err, oidcop.ErrNotAllowed):
		h.errorResponse(c, http.StatusForbidden)
	case errors.Is(err, models.ErrNotFound):
		h.notFound(c)
	default:
		h.dbError(c, op, err)
	}
}

// staffActor is the signed-in staff member, as the actor of a client
// change.
func staffActor(c *gin.Context) oidcop.Actor { return oidcop.Actor{StaffID: currentUser(c).ID} }

func (h *oidcPages) adminClientAddPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.AdminOIDCClientPage(h.page(c, tr(c, i18n.Message{ID: "oidcadmin.add", Other: "Add an app"})), components.AdminOIDCClientForm{}))
}

// lines splits a textarea into its non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// clientForm reads the add/edit form.
func clientForm(c *gin.Context) (components.AdminOIDCClientForm, oidcop.NewClient) {
	f := components.AdminOIDCClientForm{
		Name: c.PostForm("name"), RedirectURIs: c.PostForm("redirect_uris"),
		PostLogoutRedirectURIs: c.PostForm("post_logout_redirect_uris"), AllowedGroups: c.PostForm("allowed_groups"),
		BackchannelLogoutURI: c.PostForm("backchannel_logout_uri"), IDTokenAlg: c.PostForm("id_token_signed_response_alg"),
		Public: c.PostForm("public") == "on", SkipConsent: c.PostForm("skip_consent") == "on",
	}
	return f, oidcop.NewClient{Name: f.Name, RedirectURIs: lines(f.RedirectURIs), PostLogoutRedirectURIs: lines(f.PostLogoutRedirectURIs),
		AllowedGroups: lines(f.AllowedGroups), Public: f.Public, SkipConsent: f.SkipConsent, BackchannelLogoutURI: f.BackchannelLogoutURI,
		IDTokenAlg: f.IDTokenAlg}
}

func (h *oidcPages) adminClientAddSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	f, n := clientForm(c)
	id, secret, err := oidcop.AddClient(c.Request.Context(), h.db, staffActor(c), n)
	var ce *oidcop.ClientError
	if errors.As(err, &ce) {
		f.Errors = ce.Fields
		h.render(c, http.StatusUnprocessableEntity, components.AdminOIDCClientPage(h.page(c, tr(c, i18n.Message{ID: "oidcadmin.add", Other: "Add an app"})), f))
		return
	}
	if err != nil {
		h.clientError(c, "add oidc client", err)
		return
	}
	h.render(c, http.StatusOK, components.AdminOIDCSecretPage(h.page(c, tr(c, i18n.Message{ID: "oidcadmin.credentials", Other: "App credentials"})), id, secret))
}

func (h *oidcPages) adminClientPage(c *gin.Context) {
	row, ok := h.adminClient(c)
	if !ok {
		return
	}
	f := components.AdminOIDCClientForm{ClientID: row.ClientID, Name: row.Name, RedirectURIs: row.RedirectURIs,
		PostLogoutRedirectURIs: row.PostLogoutRedirectURIs, AllowedGroups: row.AllowedGroups, Public: row.Public, SkipConsent: row.SkipConsent,
		BackchannelLogoutURI: row.BackchannelLogoutURI, IDTokenAlg: row.IDTokenAlg}
	h.render(c, http.StatusOK, components.AdminOIDCClientPage(h.page(c, row.Name), f))
}

// adminClient loads the client named in the URL; false after answering 404.
func (h *oidcPages) adminClient(c *gin.Context) (*models.OIDCClient, bool) {
	id := c.Param("client")
	if id == "" || len(id) > 64 {
		h.notFound(c)
		return nil, false
	}
	row, err := models.OIDCClientByID(h.db.WithContext(c.Request.Context()), id)
	if errors.Is(err, models.ErrNotFound) {
		h.notFound(c)
		return nil, false
	}
	if err != nil {
		h.dbError(c, "read oidc client", err)
		return nil, false
	}
	return row, true
}

func (h *oidcPages) adminClientSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	row, ok := h.adminClient(c)
	if !ok {
		return
	}
	f, n := clientForm(c)
	f.ClientID, f.Public = row.ClientID, row.Public
	err := oidcop.UpdateClient(c.Request.Context(), h.db, staffActor(c), row.ClientID, n)
	var ce *oidcop.ClientError
	if errors.As(err, &ce) {
		f.Errors = ce.Fields
		h.render(c, http.StatusUnprocessableEntity, components.AdminOIDCClientPage(h.page(c, row.Name), f))
		return
	}
	if err != nil {
		h.clientError(c, "update oidc client", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.app_saved", Other: "The app was saved."}))
	h.redirect(c, route.URL(route.AdminOIDCClient, row.ClientID))
}

func (h *oidcPages) adminClientSecretSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	row, ok := h.adminClient(c)
	if !ok {
		return
	}
	if row.Public {
		h.notFound(c)
		return
	}
	s, err := oidcop.RotateSecret(c.Request.Context(), h.db, staffActor(c), row.ClientID)
	if err != nil {
		h.clientError(c, "rotate oidc secret", err)
		return
	}
	h.render(c, http.StatusOK, components.AdminOIDCSecretPage(h.page(c, tr(c, i18n.Message{ID: "oidcadmin.credentials", Other: "App credentials"})), row.ClientID, s))
}

func (h *oidcPages) adminClientDeleteSubmit(c *gin.Context) {
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	row, ok := h.adminClient(c)
	if !ok {
		return
	}
	if err := oidcop.RemoveClient(c.Request.Context(), h.db, staffActor(c), row.ClientID); err != nil && !errors.Is(err, models.ErrNotFound) {
		h.clientError(c, "remove oidc client", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.app_removed", Other: "The app was removed."}))
	h.redirect(c, route.URL(route.AdminOIDCClients))
}
