package handlers

// The admin's groups and access rules. Groups are listed to every staff
// member; creating, renaming and deleting them and setting a user's groups
// is for superusers (auth/groups.go checks it in the transaction that makes
// the change). The access rules are read-only here (they live in the
// ACCESS_RULES file), with a tester: host + path + username → the decision
// and the rule that made it.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/access"
	"gatehouse/internal/route"
	"gatehouse/models"
)

// groupPages is the admin's groups and access-rules area.
type groupPages struct {
	*Handler
	accounts *auth.Accounts
	groups   *models.Groups
}

func (h *groupPages) adminGroupsPage(c *gin.Context) {
	h.renderGroups(c, http.StatusOK, newForm(nil))
}

func (h *groupPages) renderGroups(c *gin.Context, status int, form components.Form) {
	list, err := h.groups.List(c.Request.Context())
	if err != nil {
		h.dbError(c, "list groups", err)
		return
	}
	v := components.AdminGroups{CanEdit: currentUser(c).IsSuperuser, Form: form}
	for _, g := range list {
		v.Groups = append(v.Groups, components.GroupRow{ID: g.ID, Name: g.Name, Members: g.Members})
	}
	h.render(c, status, components.AdminGroupsPage(h.page(c, tr(c, i18n.Message{ID: "groups.title", Other: "Groups"})), v))
}

func (h *groupPages) adminGroupsSubmit(c *gin.Context) {
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "name")
	gr, err := h.accounts.AdminCreateGroup(c.Request.Context(), currentUser(c).ID, values.Get("name"))
	if h.groupFailure(c, "create group", err, form, func(status int) { h.renderGroups(c, status, form) }) {
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.group_added", Other: "The group “{{.Name}}” was added."}, map[string]any{"Name": gr.Name}))
	h.redirect(c, route.URL(route.AdminGroups))
}

// groupFailure answers a failed group change and reports whether it did.
func (h *groupPages) groupFailure(c *gin.Context, op string, err error, form components.Form, show func(int)) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, auth.ErrGroupExists):
		addError(form, "name", "A group with that name already exists.")
		show(http.StatusUnprocessableEntity)
	case errors.Is(err, auth.ErrNotAllowed):
		h.errorResponse(c, http.StatusForbidden)
	case errors.Is(err, models.ErrNotFound):
		h.errorResponse(c, http.StatusNotFound)
	default:
		h.formFailure(c, op, err, form, "changes", nil, show)
	}
	return true
}

// groupTarget loads the group in the URL (404 when there is none).
func (h *groupPages) groupTarget(c *gin.Context) *models.Group {
	id, err := strconv.ParseUint(c.Param("gid"), 10, 32)
	if err != nil || id == 0 {
		h.errorResponse(c, http.StatusNotFound)
		return nil
	}
	var g models.Group
	if err := h.users.DB().WithContext(c.Request.Context()).Take(&g, uint(id)).Error; err != nil {
		if errors.Is(models.DBError("load group", err), models.ErrNotFound) {
			h.errorResponse(c, http.StatusNotFound)
			return nil
		}
		h.dbError(c, "load group", err)
		return nil
	}
	return &g
}

func (h *groupPages) adminGroupPage(c *gin.Context) {
	g := h.groupTarget(c)
	if g == nil {
		return
	}
	form := newForm(nil)
	form.Values["name"] = g.Name
	h.renderGroup(c, http.StatusOK, g, form)
}

func (h *groupPages) renderGroup(c *gin.Context, status int, g *models.Group, form components.Form) {
	members, err := h.groups.Members(c.Request.Context(), g.ID)
	if err != nil {
		h.dbError(c, "list members", err)
		return
	}
	h.render(c, status, components.AdminGroupPage(h.page(c, g.Name), components.AdminGroup{
		ID: g.ID, Name: g.Name, Members: members, CanEdit: currentUser(c).IsSuperuser, Form: form,
	}))
}

func (h *groupPages) adminGroupSubmit(c *gin.Context) {
	g := h.groupTarget(c)
	if g == nil {
		return
	}
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	form := newForm(values, "name")
	err = h.accounts.AdminRenameGroup(c.Request.Context(), currentUser(c).ID, g.ID, values.Get("name"))
	if h.groupFailure(c, "rename group", err, form, func(status int) { h.renderGroup(c, status, g, form) }) {
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.group_renamed", Other: "The group “{{.Old}}” is now called “{{.New}}”."}, map[string]any{"Old": g.Name, "New": values.Get("name")}))
	h.redirect(c, route.URL(route.AdminGroup, g.ID))
}

func (h *groupPages) adminGroupDeleteSubmit(c *gin.Context) {
	g := h.groupTarget(c)
	if g == nil {
		return
	}
	if _, _, err := h.decodeForm(c); err != nil {
		return
	}
	deleted, err := h.accounts.AdminDeleteGroup(c.Request.Context(), currentUser(c).ID, g.ID)
	if h.groupFailure(c, "delete group", err, newForm(nil), func(int) { h.errorResponse(c, http.StatusUnprocessableEntity) }) {
		return
	}
	h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.group_deleted", Other: "The group “{{.Name}}” was deleted."}, map[string]any{"Name": deleted.Name}))
	h.redirect(c, route.URL(route.AdminGroups))
}

// adminUserGroupsSubmit sets the groups of the user in the URL to the
// ticked ones.
func (h *groupPages) adminUserGroupsSubmit(c *gin.Context) {
	target := h.adminTarget(c)
	if target == nil {
		return
	}
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	var ids []uint
	for _, v := range values["group"] {
		id, err := strconv.ParseUint(v, 10, 32)
		if err != nil || id == 0 || len(ids) > 10000 {
			h.errorResponse(c, http.StatusBadRequest)
			return
		}
		ids = append(ids, uint(id))
	}
	after, err := h.accounts.AdminSetUserGroups(c.Request.Context(), currentUser(c).ID, target.ID, ids)
	if h.groupFailure(c, "set groups", err, newForm(nil), func(int) { h.errorResponse(c, http.StatusUnprocessableEntity) }) {
		return
	}
	if len(after) == 0 {
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.user_no_groups", Other: "“{{.Name}}” is in no group now."}, map[string]any{"Name": target.Username}))
	} else {
		h.flash(c, "success", "%s", tr(c, i18n.Message{ID: "flash.user_groups", Other: "“{{.Name}}” is in {{.Groups}} now."}, map[string]any{"Name": target.Username, "Groups": strings.Join(after, ", ")}))
	}
	h.redirect(c, adminUserURL(target.ID))
}

// userGroupChoices is every group, ticked where userID is a member.
func (h *adminPages) userGroupChoices(c *gin.Context, userID uint) ([]components.GroupChoice, error) {
	groups := h.groups
	all, err := groups.List(c.Request.Context())
	if err != nil {
		return nil, err
	}
	mine, err := groups.NamesOf(c.Request.Context(), userID)
	if err != nil {
		return nil, err
	}
	out := make([]components.GroupChoice, 0, len(all))
	for _, g := range all {
		out = append(out, components.GroupChoice{ID: g.ID, Name: g.Name, Member: contains(mine, g.Name)})
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// adminAccessPage shows the access rules and answers the tester.
func (h *groupPages) adminAccessPage(c *gin.Context) {
	rules := h.cfg.AccessRules.Rules()
	v := components.AdminAccess{DefaultPolicy: rules.Default.String()}
	if h.cfg.AccessRules != nil {
		v.File = h.cfg.AccessRules.Path()
	}
	for _, r := range rules.Rules {
		v.Rules = append(v.Rules, ruleRow(r))
	}
	q := c.Request.URL.Query()
	v.Test = components.AccessTest{Host: displayable(q.Get("host")), Path: displayable(q.Get("path")), Username: displayable(q.Get("username"))}
	if q.Has("host") {
		v.Test.Asked = true
		h.accessTest(c, rules, &v.Test)
		if c.IsAborted() {
			return
		}
	}
	h.render(c, http.StatusOK, components.AdminAccessPage(h.page(c, tr(c, i18n.Message{ID: "access.title", Other: "Access rules"})), v))
}

func (h *groupPages) accessTest(c *gin.Context, rules *access.Rules, t *components.AccessTest) {
	host, path := strings.TrimSpace(t.Host), strings.TrimSpace(t.Path)
	if path == "" {
		path = "/"
	}
	o := original{method: http.MethodGet, scheme: "https", host: strings.ToLower(host), uri: path}
	if !o.valid() {
		t.Error = tr(c, i18n.Message{ID: "access.bad_url", Other: "Enter a host name (such as app.example.com) and a path starting with /."})
		return
	}
	var subj *access.Subject
	who := tr(c, i18n.Message{ID: "access.someone_anonymous", Other: "someone not signed in"})
	if name := strings.TrimSpace(t.Username); name != "" {
		u, err := h.users.ByUsername(c.Request.Context(), name)
		if errors.Is(err, models.ErrNotFound) {
			t.Error = tr(c, i18n.Message{ID: "access.no_such_user", Other: "There is no user “{{.Name}}”."}, map[string]any{"Name": name})
			return
		}
		if err != nil {
			h.dbError(c, "load user", err)
			c.Abort()
			return
		}
		groups, err := h.groups.NamesOf(c.Request.Context(), u.ID)
		if err != nil {
			h.dbError(c, "load groups", err)
			c.Abort()
			return
		}
		subj, who = &access.Subject{Username: u.Username, Groups: groups}, u.Username
		if !u.IsActive {
			t.Decision, t.Rule = tr(c, i18n.Message{ID: "access.refused_inactive", Other: "Refused: {{.Name}} is inactive"}, map[string]any{"Name": u.Username}), tr(c, i18n.Message{ID: "access.rule_status", Other: "the account's status"})
			return
		}
	}
	d := rules.Decide(access.Request{Host: o.host, Path: o.uri, Method: o.method}, subj)
	switch {
	case d.Policy == access.Bypass:
		t.Decision = tr(c, i18n.Message{ID: "access.bypass", Other: "Anyone may enter (bypass)"})
	case d.Policy == access.Deny:
		t.Decision = tr(c, i18n.Message{ID: "access.refused", Other: "Refused: {{.Who}} may not enter (deny)"}, map[string]any{"Who": who})
	case subj == nil && d.NeedsSubject:
		t.Decision = tr(c, i18n.Message{ID: "access.sign_in_subject", Other: "Sign-in required: the rule depends on who is asking"})
	case subj == nil:
		t.Decision = tr(c, i18n.Message{ID: "access.sign_in_required", Other: "Sign-in required ({{.Policy}})"}, map[string]any{"Policy": d.Policy.String()})
	case d.Policy == access.TwoFactor:
		t.Decision = tr(c, i18n.Message{ID: "access.two_factor", Other: "Allowed with a second factor (two_factor)"})
	default:
		t.Decision = tr(c, i18n.Message{ID: "access.one_factor", Other: "Allowed once signed in (one_factor)"})
	}
	if d.Rule == access.DefaultRule {
		t.Rule = "default_policy"
	} else {
		t.Rule = tr(c, i18n.Message{ID: "access.rule_line", Other: "rule {{.Number}} (line {{.Line}})"}, map[string]any{"Number": d.Rule + 1, "Line": rules.Rules[d.Rule].Line})
	}
}

func ruleRow(r access.Rule) components.AccessRuleRow {
	row := components.AccessRuleRow{Number: r.Index + 1, Line: r.Line, Domains: strings.Join(r.Domains, ", "),
		Methods: strings.Join(r.Methods, ", "), Policy: r.Policy.String()}
	var res []string
	for _, re := range r.Resources {
		res = append(res, re.String())
	}
	row.Resources = strings.Join(res, "  ")
	var subs []string
	for _, all := range r.Subjects {
		subs = append(subs, strings.Join(all, " and "))
	}
	row.Subjects = strings.Join(subs, " or ")
	return row
}
