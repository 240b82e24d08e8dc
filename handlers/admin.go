package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/locale"
	"gatehouse/internal/passhash"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// The staff admin, Django's user admin as htmx pages. Routes sit behind
// requireLogin and requireStaff (routes.go). Every rule about who may change
// what is checked by the model inside the write transaction that makes the
// change (auth/admin.go); the handlers only decide what to show.

// adminEventsShown is how many security events the user page lists.
const adminEventsShown = 30

// requireStaff lets active staff through; anyone else signed in gets 403.
// It runs after requireLogin, so anonymous visitors were already sent to
// the login page.
func (h *adminPages) requireStaff(c *gin.Context) {
	if u := currentUser(c); u != nil && u.IsStaff {
		c.Next()
		return
	}
	h.errorResponse(c, http.StatusForbidden)
	c.Abort()
}

// adminIndex is the security overview (overview.go).
func (h *adminPages) adminIndex(c *gin.Context) { h.adminOverviewPage(c) }

// adminUsersPage is the user list. To htmx (live search, pager) it answers
// the results region alone; otherwise the whole page.
func (h *adminPages) adminUsersPage(c *gin.Context) {
	vq := components.AdminUserQuery{
		Q:         strings.TrimSpace(displayable(c.Query("q"))),
		Active:    models.ParseTristate(c.Query("active")).String(),
		Staff:     models.ParseTristate(c.Query("staff")).String(),
		Superuser: models.ParseTristate(c.Query("superuser")).String(),
		Legacy:    models.ParseTristate(c.Query("legacy")).String(),
	}
	if utf8.RuneCountInString(vq.Q) > models.MaxSearchLen {
		vq.Q = string([]rune(vq.Q)[:models.MaxSearchLen])
	}
	sort, desc := models.ParseUserSort(c.Query("sort"))
	if s := c.Query("sort"); s != "" && strings.TrimPrefix(s, "-") == string(sort) {
		vq.Sort = s // known columns only; anything else falls back silently
	}
	page, _ := strconv.Atoi(c.Query("page"))
	list, err := h.users.List(c.Request.Context(), models.UserQuery{
		Search: vq.Q, Active: models.ParseTristate(vq.Active), Staff: models.ParseTristate(vq.Staff),
		Superuser: models.ParseTristate(vq.Superuser), LegacyHash: models.ParseTristate(vq.Legacy),
		Sort: sort, Desc: desc, Page: page,
	})
	if err != nil {
		h.dbError(c, "list users", err)
		return
	}
	vq.Page = list.Page
	view := components.AdminUserList{
		Query: vq, DefaultSort: string(models.SortUsername), Total: list.Total,
		Page: list.Page, Pages: list.Pages, CanAdd: true,
	}
	for i := range list.Users {
		view.Rows = append(view.Rows, userRow(&list.Users[i]))
	}
	if isHTMX(c) {
		h.render(c, http.StatusOK, components.AdminUserResults(view))
		return
	}
	h.render(c, http.StatusOK, components.AdminUsersPage(h.page(c, tr(c, i18n.Message{ID: "title.users", Other: "Users"})), view))
}

func userRow(u *models.User) components.AdminUserRow {
	return components.AdminUserRow{
		ID: u.ID, Username: u.Username, Email: u.Email,
		IsActive: u.IsActive, IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser,
		DateJoined: u.DateJoined, LastLogin: u.LastLogin,
		HashAlgorithm: passhash.HashAlgorithm(u.Password), LegacyHash: passhash.IsLegacyHash(u.Password),
		SharedEmail:   u.Email != "" && u.EmailKey == "",
		EmailVerified: u.EmailVerified,
	}
}

// adminTarget loads the user named by the :id parameter; on failure it has
// answered (404 or a database error) and returns nil.
func (h *Handler) adminTarget(c *gin.Context) *models.User {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		h.errorResponse(c, http.StatusNotFound)
		return nil
	}
	u, err := h.users.ByID(c.Request.Context(), uint(id))
	if errors.Is(err, models.ErrNotFound) {
		h.errorResponse(c, http.StatusNotFound)
		return nil
	}
	if err != nil {
		h.dbError(c, "load user", err)
		return nil
	}
	return u
}

// adminActionOn starts a button-only admin POST on the user in the URL:
// it loads the target and reads the (empty) form. The acting staff
// member's rights are checked by the flow, in the transaction that makes
// the change. When ok is false the answer has been sent.
func (h *adminPages) adminActionOn(c *gin.Context) (actor *models.SessionUser, target *models.User, ok bool) {
	target = h.adminTarget(c)
	if target == nil {
		return nil, nil, false
	}
	if _, _, err := h.decodeForm(c); err != nil {
		return nil, nil, false
	}
	return currentUser(c), target, true
}

// adminError answers a refused or failed admin action: 403 for a lack of
// rights, 404 for a user gone meanwhile, the database error otherwise.
func (h *adminPages) adminError(c *gin.Context, op string, err error) {
	switch {
	case errors.Is(err, auth.ErrNotAllowed):
		h.errorResponse(c, http.StatusForbidden)
	case errors.Is(err, models.ErrNotFound):
		h.errorResponse(c, http.StatusNotFound)
	default:
		h.dbError(c, op, err)
	}
}

func userFormValues(u *models.User) components.Form {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return components.Form{
		Values: map[string]string{
			"email": u.Email, "is_active": onOff(u.IsActive),
			"is_staff": onOff(u.IsStaff), "is_superuser": onOff(u.IsSuperuser),
		},
		Errors: map[string][]string{},
	}
}

func (h *adminPages) adminUserPage(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	d, ok := h.userDetail(c, target, userFormValues(target))
	if !ok {
		return
	}
	h.render(c, http.StatusOK, components.AdminUserPage(h.page(c, target.Username), d))
}

// userDetail gathers the user page: the form as given, sessions, events.
func (h *adminPages) userDetail(c *gin.Context, target *models.User, form components.Form) (components.AdminUserDetail, bool) {
	ctx := c.Request.Context()
	actor := currentUser(c)
	d := components.AdminUserDetail{
		User: userRow(target), IsSelf: actor.ID == target.ID,
		CanManage: auth.CanManage(actor, &target.SessionUser), CanGrant: actor.IsSuperuser, Form: form,
	}
	groups, err := h.userGroupChoices(c, target.ID)
	if err != nil {
		h.dbError(c, "list groups", err)
		return d, false
	}
	d.Groups = groups
	rows, err := h.sessions.ForUser(ctx, target.ID)
	if err != nil {
		h.dbError(c, "list sessions", err)
		return d, false
	}
	d.HasPassword = auth.HasUsablePassword(target.Password)
	ids, err := h.accounts.Identities(ctx, target.ID)
	if err != nil {
		h.dbError(c, "list identities", err)
		return d, false
	}
	for _, id := range ids {
		name := id.Provider
		if p := h.providers.ByID(id.Provider); p != nil {
			name = p.Config.Name
		}
		d.Identities = append(d.Identities, components.Connection{ID: id.ID, Provider: name, Email: id.Email, CreatedAt: id.CreatedAt, LastUsedAt: id.LastUsedAt})
	}
	current := session(c).ID
	for _, s := range rows {
		b, sys := models.DescribeAgent(s.UserAgent)
		d.Sessions = append(d.Sessions, components.AdminSession{
			PublicID: models.SessionPublicID(s.ID), CreatedAt: s.CreatedAt, LastSeen: s.LastSeenAt,
			IP: s.IP, UserAgent: s.UserAgent, Browser: components.BrowserOnSystem(ctx, b, sys), Current: s.ID == current,
			Method: s.AuthMethod, Provider: h.providerName(s.AuthMethod),
		})
	}
	mfa, err := h.accounts.MFAStatus(ctx, target.ID)
	if err != nil {
		h.dbError(c, "load factors", err)
		return d, false
	}
	d.TwoFactor = twoFactorWords(c, mfa)
	events, err := h.events.ForUser(ctx, target.ID, adminEventsShown)
	if err != nil {
		h.dbError(c, "list events", err)
		return d, false
	}
	var actorIDs []uint
	for _, e := range events {
		if e.ActorID != nil {
			actorIDs = append(actorIDs, *e.ActorID)
		}
	}
	names, err := h.users.UsernamesByID(ctx, actorIDs)
	if err != nil {
		h.dbError(c, "load usernames", err)
		return d, false
	}
	for _, e := range events {
		ev := components.AdminEvent{When: e.CreatedAt, Kind: string(e.Kind), Words: models.EventWords(c.Request.Context(), e.Kind), IP: e.IP, Detail: models.EventDetail(c.Request.Context(), &e)}
		if e.ActorID != nil {
			ev.Actor = names[*e.ActorID]
			if ev.Actor == "" {
				ev.Actor = fmt.Sprintf("deleted user #%d", *e.ActorID)
			}
		}
		d.Events = append(d.Events, ev)
	}
	return d, true
}

// toOwnEmailPage sends staff who tried to change their own address in the
// admin to their account's e-mail page (sudo, a confirmation link).
func (h *adminPages) toOwnEmailPage(c *gin.Context) {
	h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.change_your_own_e_mail", Other: "Change your own e-mail address here: the new address gets a confirmation link."}))
	h.redirect(c, components.EmailPath)
}

// checkboxValue reads a hidden-"off"-plus-checkbox pair: nil when the form
// did not carry the field (unchanged), else whether the box was ticked.
func checkboxValue(values url.Values, name string) *bool {
	v, ok := values[name]
	if !ok || len(v) == 0 {
		return nil
	}
	on := v[len(v)-1] == "on"
	return &on
}

// adminUserSubmit saves the user form. Failed rules re-render the form
// with the reason (422); a lack of rights is 403.
func (h *adminPages) adminUserSubmit(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	actor := currentUser(c)
	form := userFormValues(target)
	ch := auth.UserChanges{
		IsActive: checkboxValue(values, "is_active"), IsStaff: checkboxValue(values, "is_staff"),
		IsSuperuser: checkboxValue(values, "is_superuser"),
	}
	if _, ok := values["email"]; ok {
		email := values.Get("email")
		form.Values["email"] = displayable(email)
		ch.Email = &email
	}
	for name, v := range map[string]*bool{"is_active": ch.IsActive, "is_staff": ch.IsStaff, "is_superuser": ch.IsSuperuser} {
		if v != nil {
			form.Values[name] = map[bool]string{true: "on", false: "off"}[*v]
		}
	}
	if formMsg != "" {
		addError(form, "", formMsg)
		h.adminUserForm(c, target, form)
		return
	}
	if privilegeChange(target, ch) && !h.sudoFresh(c) {
		h.toReauth(c) // sudo.go: privilege changes need a recent password
		return
	}
	res, err := h.accounts.AdminUpdate(c.Request.Context(), actor.ID, target.ID, ch)
	var verr *models.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, m := range verr.Fields["email"] {
			addError(form, "email", m)
		}
		h.adminUserForm(c, target, form)
		return
	case errors.Is(err, auth.ErrOwnSuperuser):
		addError(form, "is_superuser", errSentence(c, err))
		h.adminUserForm(c, target, form)
		return
	case errors.Is(err, auth.ErrDeactivateSelf):
		addError(form, "is_active", errSentence(c, err))
		h.adminUserForm(c, target, form)
		return
	case errors.Is(err, auth.ErrLastSuperuser):
		addError(form, "", errSentence(c, err))
		h.adminUserForm(c, target, form)
		return
	case errors.Is(err, models.ErrDuplicateEmail):
		addError(form, "email", emailTakenError)
		h.adminUserForm(c, target, form)
		return
	case errors.Is(err, auth.ErrOwnEmailHere):
		h.toOwnEmailPage(c)
		return
	case err != nil:
		h.adminError(c, "update user", err)
		return
	}
	changes := res.Changes()
	if len(changes) == 0 {
		h.flash(c, "info", "%s", tr(c, i18n.Message{ID: "flash.no_fields_changed", Other: "No fields changed."}))
		h.redirect(c, adminUserURL(target.ID))
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_user_changed", Other: "The user “{{.Name}}” was changed successfully."}, map[string]any{"Name": target.Username}))
	h.redirect(c, adminUserURL(target.ID))
}

// adminUserForm answers a refused edit: the form to htmx, the page otherwise.
func (h *adminPages) adminUserForm(c *gin.Context, target *models.User, form components.Form) {
	d, ok := h.userDetail(c, target, form)
	if !ok {
		return
	}
	if isHTMX(c) {
		h.render(c, http.StatusUnprocessableEntity, components.AdminUserForm(d))
		return
	}
	h.render(c, http.StatusUnprocessableEntity, components.AdminUserPage(h.page(c, target.Username), d))
}

func adminUserURL(id uint) string { return route.URL(route.AdminUser, id) }

// adminSessionRevoke ends one session of the user. To htmx it answers 200
// with nothing and the row is removed (hx-swap="delete"); otherwise it
// redirects back with a message. An unknown or already-ended session is not
// an error: the result the admin wanted holds.
func (h *adminPages) adminSessionRevoke(c *gin.Context) {
	actor, target, ok := h.adminActionOn(c)
	if !ok {
		return
	}
	// The browser's name for the message, read before it goes.
	msg := tr(c, i18n.Message{ID: "flash.the_session_was_revoked", Other: "The session was revoked."})
	if rows, err := h.sessions.ForUser(c.Request.Context(), target.ID); err == nil {
		for _, s := range rows {
			if models.SessionPublicID(s.ID) == c.Param("sid") {
				b, sys := models.DescribeAgent(s.UserAgent)
				msg = tr(c, i18n.Message{ID: "flash.signed_out_browser_on_system", Other: "Signed out {{.Browser}} on {{.System}}."},
					map[string]any{"Browser": components.AgentWord(c.Request.Context(), b), "System": components.AgentWord(c.Request.Context(), sys)})
			}
		}
	}
	ok, err := h.accounts.AdminRevokeSession(c.Request.Context(), actor.ID, target.ID, c.Param("sid"))
	if err != nil {
		h.adminError(c, "revoke session", err)
		return
	}
	if !ok {
		msg = tr(c, i18n.Message{ID: "flash.that_session_had_already_ended", Other: "That session had already ended."})
	}
	if isHTMX(c) {
		if !h.saveSession(c) {
			return
		}
		h.render(c, http.StatusOK, components.AdminSessionRevokedRow(msg))
		return
	}
	if ok {
		h.flash(c, "success", "%s", msg)
	} else {
		h.flash(c, "info", "%s", msg)
	}
	h.redirect(c, adminUserURL(target.ID))
}

// adminSessionsRevokeAll signs the user out everywhere (on one's own
// account: everywhere but here).
func (h *adminPages) adminSessionsRevokeAll(c *gin.Context) {
	actor, target, ok := h.adminActionOn(c)
	if !ok {
		return
	}
	n, err := h.accounts.AdminRevokeAll(c.Request.Context(), actor.ID, target.ID, session(c).ID)
	if err != nil {
		h.adminError(c, "end sessions", err)
		return
	}
	h.flash(c, "success", "%s", locale.N(c.Request.Context(), i18n.Message{ID: "flash.admin_signed_out", One: "{{.Name}} signed out of {{.Count}} session.", Other: "{{.Name}} signed out of {{.Count}} sessions."}, int(n), map[string]any{"Name": target.Username}))
	h.redirect(c, adminUserURL(target.ID))
}

// adminPasswordResetSubmit mails the user a reset link at their stored
// address (the same outbox mail as the public form) and tells the admin
// what happened — including that nothing was sent when an unused link was
// mailed within the last few minutes.
func (h *adminPages) adminPasswordResetSubmit(c *gin.Context) {
	actor, target, ok := h.adminActionOn(c)
	if !ok {
		return
	}
	switch {
	case target.Email == "":
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.admin_no_email", Other: "{{.Name}} has no e-mail address; set one first, or set a password."}, map[string]any{"Name": target.Username}))
	case !target.IsActive:
		h.flash(c, "error", "%s", tr(c, i18n.Message{ID: "flash.admin_inactive", Other: "{{.Name}} is inactive: reset links only work for active accounts."}, map[string]any{"Name": target.Username}))
	default:
		queued, err := h.accounts.AdminRequestReset(c.Request.Context(), actor.ID, target.ID)
		if err != nil {
			h.adminError(c, "request password reset", err)
			return
		}
		if queued {
			h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_reset_sent", Other: "A password-reset e-mail is on its way to {{.Email}}."}, map[string]any{"Email": target.Email}))
		} else {
			h.flash(c, "warning", "%s", tr(c, i18n.Message{ID: "flash.admin_reset_not_sent", Other: "Nothing was sent: a reset link mailed to {{.Email}} in the last {{.Wait}} is still unused."},
				map[string]any{"Email": target.Email, "Wait": humanWait(c.Request.Context(), h.cfg.PasswordResetThrottle)}))
		}
	}
	h.redirect(c, adminUserURL(target.ID))
}

func (h *adminPages) adminSetPasswordPage(c *gin.Context) {
	target := h.adminSetPasswordTarget(c)
	if target == nil {
		return
	}
	h.render(c, http.StatusOK, components.AdminSetPasswordPage(h.page(c, tr(c, i18n.Message{ID: "title.set_password", Other: "Set password"})), userRow(target), newForm(nil)))
}

// adminSetPasswordTarget loads the target of a set-password request and
// refuses one's own account (403): the admin form skips the old password,
// so a borrowed staff session must not use it to take its own account.
func (h *adminPages) adminSetPasswordTarget(c *gin.Context) *models.User {
	target := h.adminTarget(c)
	if target == nil {
		return nil
	}
	actor := currentUser(c)
	if target.ID == actor.ID || !auth.CanManage(actor, &target.SessionUser) {
		h.errorResponse(c, http.StatusForbidden)
		return nil
	}
	return target
}

// adminSetPasswordSubmit sets the user's password with the same validators
// as everywhere else, voids their reset links and ends all their sessions
// (auth.Accounts.AdminSetPassword: rights checked in the write).
func (h *adminPages) adminSetPasswordSubmit(c *gin.Context) {
	target := h.adminSetPasswordTarget(c)
	if target == nil {
		return
	}
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values)
	show := func(status int) { h.adminSetPasswordForm(c, status, target, form) }
	if formMsg != "" {
		addError(form, "", formMsg)
		show(http.StatusUnprocessableEntity)
		return
	}
	_, err = h.accounts.AdminSetPassword(c.Request.Context(), currentUser(c).ID, target.ID,
		values.Get("new_password1"), values.Get("new_password2"))
	switch {
	case errors.Is(err, auth.ErrNotAllowed), errors.Is(err, auth.ErrSetOwnPassword), errors.Is(err, models.ErrNotFound):
		h.adminError(c, "set password", err)
		return
	case err != nil:
		h.formFailure(c, "set password", err, form, "attempts", newPasswordFields, show)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_password_set", Other: "Password of {{.Name}} set; they were signed out everywhere."}, map[string]any{"Name": target.Username}))
	h.redirect(c, adminUserURL(target.ID))
}

func (h *adminPages) adminSetPasswordForm(c *gin.Context, status int, target *models.User, form components.Form) {
	if isHTMX(c) {
		h.render(c, status, components.AdminSetPasswordForm(userRow(target), form))
		return
	}
	h.render(c, status, components.AdminSetPasswordPage(h.page(c, tr(c, i18n.Message{ID: "title.set_password", Other: "Set password"})), userRow(target), form))
}

func (h *adminPages) adminUserAddPage(c *gin.Context) {
	h.render(c, http.StatusOK, components.AdminUserAddPage(h.page(c, tr(c, i18n.Message{ID: "title.add_user", Other: "Add user"})),
		components.AdminAddUser{Form: newForm(nil), CanGrant: currentUser(c).IsSuperuser}))
}

// adminUserAddSubmit creates an account. Staff and superuser flags are for
// superusers to set; anyone else sending them gets 403.
func (h *adminPages) adminUserAddSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	actor := currentUser(c)
	form := newForm(values, "username", "email")
	staff, super := checkboxValue(values, "is_staff"), checkboxValue(values, "is_superuser")
	isStaff, isSuper := staff != nil && *staff, super != nil && *super
	if (isStaff || isSuper) && !actor.IsSuperuser {
		h.errorResponse(c, http.StatusForbidden)
		return
	}
	// Creating a privileged account is a privilege change like promoting
	// one: it needs a recent password confirmation (sudo.go).
	if (isStaff || isSuper) && !h.sudoFresh(c) {
		h.toReauth(c)
		return
	}
	if isStaff {
		form.Values["is_staff"] = "on"
	}
	if isSuper {
		form.Values["is_superuser"] = "on"
	}
	if formMsg != "" {
		addError(form, "", formMsg)
	}
	username, email := values.Get("username"), values.Get("email")
	p1, p2 := values.Get("password1"), values.Get("password2")
	if strings.TrimSpace(username) == "" {
		addError(form, "username", requiredError)
	}
	switch {
	case p1 == "":
		addError(form, "password1", requiredError)
	case p2 == "":
		addError(form, "password2", requiredError)
	case p1 != p2:
		addError(form, "password2", mismatchError)
	}
	if form.HasErrors() {
		h.adminUserAddForm(c, form)
		return
	}
	u, err := h.accounts.AdminCreate(c.Request.Context(), actor.ID, models.NewUser{
		Username: username, Email: email, Password: p1, IsStaff: isStaff, IsSuperuser: isSuper,
	})
	var verr *models.ValidationError
	switch {
	case errors.As(err, &verr):
		for field, msgs := range verr.Fields {
			if field == "password" {
				field = "password1"
			}
			for _, m := range msgs {
				addError(form, field, m)
			}
		}
		h.adminUserAddForm(c, form)
		return
	case errors.Is(err, models.ErrDuplicateUsername):
		addError(form, "username", "A user with that username already exists.")
		h.adminUserAddForm(c, form)
		return
	case errors.Is(err, auth.ErrNotAllowed):
		h.adminError(c, "create user", err)
		return
	case errors.Is(err, models.ErrDuplicateEmail):
		addError(form, "email", emailTakenError)
		h.adminUserAddForm(c, form)
		return
	case err != nil:
		h.formFailure(c, "create user", err, form, "attempts", nil, func(status int) { h.adminUserAddForm(c, form) })
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_user_added", Other: "The user “{{.Name}}” was added successfully."}, map[string]any{"Name": u.Username}))
	h.redirect(c, adminUserURL(u.ID))
}

func (h *adminPages) adminUserAddForm(c *gin.Context, form components.Form) {
	a := components.AdminAddUser{Form: form, CanGrant: currentUser(c).IsSuperuser}
	if isHTMX(c) {
		h.render(c, http.StatusUnprocessableEntity, components.AdminUserAddForm(a))
		return
	}
	h.render(c, http.StatusUnprocessableEntity, components.AdminUserAddPage(h.page(c, tr(c, i18n.Message{ID: "title.add_user", Other: "Add user"})), a))
}

// adminUserDeletePage is the confirmation step. Refusals (oneself, a
// superuser for mere staff) are answered here already, before any POST.
func (h *adminPages) adminUserDeletePage(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	actor := currentUser(c)
	if target.ID == actor.ID {
		h.flash(c, "error", "%s", errSentence(c, auth.ErrDeleteSelf))
		h.redirect(c, adminUserURL(target.ID))
		return
	}
	if !auth.CanManage(actor, &target.SessionUser) {
		h.errorResponse(c, http.StatusForbidden)
		return
	}
	h.render(c, http.StatusOK, components.AdminUserDeletePage(h.page(c, tr(c, i18n.Message{ID: "admin.delete_title", Other: "Delete {{.Name}}?"}, map[string]any{"Name": target.Username})), userRow(target)))
}

func (h *adminPages) adminUserDeleteSubmit(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	actor := currentUser(c)
	deleted, err := h.accounts.AdminDelete(c.Request.Context(), actor.ID, target.ID)
	switch {
	case errors.Is(err, auth.ErrDeleteSelf), errors.Is(err, auth.ErrLastSuperuser):
		h.flash(c, "error", "%s", errSentence(c, err))
		h.redirect(c, adminUserURL(target.ID))
		return
	case err != nil:
		h.adminError(c, "delete user", err)
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.admin_user_deleted", Other: "The user “{{.Name}}” was deleted successfully."}, map[string]any{"Name": deleted.Username}))
	h.redirect(c, components.AdminUsersURL)
}

// twoFactorWords says an account's second factors for the admin's user
// page.
func twoFactorWords(c *gin.Context, s auth.MFAStatus) string {
	ctx := c.Request.Context()
	if !s.Enabled() {
		return tr(c, i18n.Message{ID: "admin.factors.off", Other: "Off"})
	}
	var parts []string
	if s.TOTP {
		parts = append(parts, tr(c, i18n.Message{ID: "admin.factors.totp", Other: "authenticator app"}))
	}
	if n := len(s.Passkeys); n > 0 {
		parts = append(parts, locale.N(ctx, i18n.Message{ID: "hub.factors.passkeys", One: "{{.Count}} passkey", Other: "{{.Count}} passkeys"}, n))
	}
	parts = append(parts, locale.N(ctx, i18n.Message{ID: "admin.factors.recovery", One: "{{.Count}} recovery code left", Other: "{{.Count}} recovery codes left"}, s.RecoveryLeft))
	return tr(c, i18n.Message{ID: "admin.factors.on", Other: "On: {{.List}}"}, map[string]any{"List": strings.Join(parts, ", ")})
}

// adminErrors are the sentences of the admin's refusals (auth's sentinel
// errors), in the reader's language. (Messages in variables: goi18n
// extract cannot read a map literal keyed by imported names.)
var (
	msgNotAllowed     = i18n.Message{ID: "error.admin.not_allowed", Other: "You are not allowed to do that."}
	msgOwnSuperuser   = i18n.Message{ID: "error.admin.own_superuser", Other: "You cannot remove your own superuser status."}
	msgDeactivateSelf = i18n.Message{ID: "error.admin.deactivate_self", Other: "You cannot deactivate your own account."}
	msgDeleteSelf     = i18n.Message{ID: "error.admin.delete_self", Other: "You cannot delete your own account."}
	msgLastSuperuser  = i18n.Message{ID: "error.admin.last_superuser", Other: "The site must keep at least one active superuser."}
	msgSetOwnPassword = i18n.Message{ID: "error.admin.set_own_password", Other: "You cannot set your own password here."}
	adminErrors       = map[error]i18n.Message{
		auth.ErrNotAllowed: msgNotAllowed, auth.ErrOwnSuperuser: msgOwnSuperuser, auth.ErrDeactivateSelf: msgDeactivateSelf,
		auth.ErrDeleteSelf: msgDeleteSelf, auth.ErrLastSuperuser: msgLastSuperuser, auth.ErrSetOwnPassword: msgSetOwnPassword,
	}
)

// errSentence is err as a sentence for the reader.
func errSentence(c *gin.Context, err error) string {
	for e, m := range adminErrors {
		if errors.Is(err, e) {
			return tr(c, m)
		}
	}
	return tr(c, errorTitleOther)
}
