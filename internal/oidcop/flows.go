package oidcop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gatehouse/internal/secret"
	"gatehouse/models"
)

// Pending is an authorization request waiting at /oidc/continue/.
type Pending struct {
	Request *models.OIDCAuthRequest
	Client  *models.OIDCClient
	Scopes  []string
	// Op is the request as op sees it, for answering the client.
	Op op.AuthRequest
}

// Prompt reports whether the request asked for prompt value v.
func (p *Pending) Prompt(v string) bool { return slices.Contains(strings.Fields(p.Request.Prompt), v) }

// ErrRequestGone means the request is unknown, expired or answered.
var ErrRequestGone = errors.New("this sign-in request has expired or was already answered")

// ErrNotInGroup means the client is limited to groups the user is in none of.
var ErrNotInGroup = errors.New("not a member of any group allowed to use this app")

// Pending returns the open request id.
func (p *Provider) Pending(ctx context.Context, id string) (*Pending, error) {
	if !secret.Valid(id) {
		return nil, ErrRequestGone
	}
	db := p.db.WithContext(ctx)
	row, err := models.OIDCAuthRequestByID(db, id)
	if errors.Is(err, models.ErrNotFound) || (err == nil && row.Done) {
		return nil, ErrRequestGone
	}
	if err != nil {
		return nil, err
	}
	c, err := models.OIDCClientByID(db, row.ClientID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, ErrRequestGone
	}
	if err != nil {
		return nil, err
	}
	return &Pending{Request: row, Client: c, Scopes: strings.Fields(row.Scopes), Op: p.wrapRequest(row)}, nil
}

// NeedsConsent reports whether userID must be asked before p's client
// learns what its scopes reveal: not for skip-consent clients, nor when a
// grant already covers every scope.
func (p *Provider) NeedsConsent(ctx context.Context, userID uint, pd *Pending) (bool, error) {
	if pd.Client.SkipConsent {
		return false, nil
	}
	if pd.Prompt(oidc.PromptConsent) {
		return true, nil
	}
	g, err := models.OIDCGrantOf(p.db.WithContext(ctx), userID, pd.Client.ClientID)
	if errors.Is(err, models.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	have := strings.Fields(g.Scopes)
	for _, s := range pd.Scopes {
		if !slices.Contains(have, s) {
			return true, nil
		}
	}
	return false, nil
}

// Approval is a signed-in person's answer to a request.
type Approval struct {
	RequestID string
	User      *models.SessionUser
	// SessionID is the browser session's row ID (never its cookie
	// token): the sign-in is recorded under it, and its ID tokens carry
	// the sid derived from it.
	SessionID  string
	AuthTime   time.Time
	AuthMethod string
	// Consented is set when the person pressed "Allow" (the grant's
	// scopes are then replaced by the request's).
	Consented bool
}

// Approve completes a request for a.User in one transaction: the
// conditional UPDATE that marks it done (so it is answered once), the
// group check, the grant, the events. The result is the request as op
// sees it, to answer the client with a code.
func (p *Provider) Approve(ctx context.Context, a Approval) (op.AuthRequest, error) {
	var row models.OIDCAuthRequest
	err := p.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("id = ? AND done = ? AND expires_at > ?", a.RequestID, false, time.Now().UTC()).Take(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrRequestGone
			}
			return err
		}
		c, err := models.OIDCClientByID(tx, row.ClientID)
		if err != nil {
			return ErrRequestGone
		}
		if groups := models.Lines(c.AllowedGroups); len(groups) > 0 {
			mine, err := models.GroupNamesOf(tx, a.User.ID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(mine, func(g string) bool { return slices.Contains(groups, g) }) {
				return ErrNotInGroup
			}
		}
		at := a.AuthTime.UTC()
		sid := ""
		if a.SessionID != "" {
			// One sid per browser session, also after the session moved
			// to a new row (rotation keeps its records).
			if sid, err = models.OIDCSessionSid(tx, a.SessionID); err != nil {
				return err
			}
			if sid == "" {
				sid = p.SessionSID(a.SessionID)
			}
			if err := models.SaveOIDCSessionClient(tx, a.SessionID, c.ClientID, a.User.ID, sid); err != nil {
				return err
			}
		}
		res := tx.Model(&models.OIDCAuthRequest{}).Where("id = ? AND done = ?", row.ID, false).Updates(map[string]any{
			"done": true, "user_id": a.User.ID, "session_id": sid,
			"auth_time": at, "amr": AMR(a.AuthMethod),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrRequestGone
		}
		row.Done, row.UserID, row.AuthTime, row.AMR, row.SessionID = true, &a.User.ID, &at, AMR(a.AuthMethod), sid
		scopes := row.Scopes
		if !a.Consented {
			// Keep what was consented before; a skip-consent client's
			// grant records the scopes it used.
			if g, err := models.OIDCGrantOf(tx, a.User.ID, c.ClientID); err == nil {
				scopes = g.Scopes
			}
		}
		if err := models.SaveOIDCGrant(tx, a.User.ID, c.ClientID, scopes); err != nil {
			return err
		}
		if a.Consented {
			if err := models.RecordEvent(tx, ctx, models.UserEvent(models.EventOIDCConsent, a.User, nil,
				models.CodedDetail(models.DetailOIDCConsent, "client", c.ClientID, "name", c.Name, "scopes", row.Scopes))); err != nil {
				return err
			}
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventOIDCGrant, a.User, nil,
			models.CodedDetail(models.DetailOIDCApp, "client", c.ClientID, "name", c.Name)))
	})
	if err != nil {
		return nil, err
	}
	return p.wrapRequest(&row), nil
}

// Apps lists the apps userID signed in to.
func (p *Provider) Apps(ctx context.Context, userID uint) ([]models.OIDCAppInfo, error) {
	return models.OIDCAppsOf(ctx, p.db, userID)
}

// RemoveAccess ends u's grant to clientID: its consent and every token,
// in one transaction. False when there was no grant.
func RemoveAccess(ctx context.Context, db *gorm.DB, u *models.SessionUser, clientID string) (bool, error) {
	removed := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Queued while the grant still says the app signed u in.
		if err := models.QueueOIDCBackchannelLogout(tx, u.ID, clientID); err != nil {
			return err
		}
		ok, err := models.DeleteOIDCGrant(tx, u.ID, clientID)
		if err != nil || !ok {
			return err
		}
		removed = true
		if _, err := models.RevokeOIDCUserTokens(tx, u.ID, clientID); err != nil {
			return err
		}
		return models.RecordEvent(tx, ctx, models.UserEvent(models.EventOIDCAccessRemoved, u, nil, models.CodedDetail(models.DetailOIDCAccessRemoved, "client", clientID)))
	})
	return removed, err
}

// NewClient describes a client to register.
type NewClient struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	SkipConsent            bool
	AllowedGroups          []string
	// BackchannelLogoutURI, optional, is told when a user's sign-ins to
	// the client end (backchannel.go).
	BackchannelLogoutURI string
	// IDTokenAlg is id_token_signed_response_alg: "RS256" (or "", the
	// default) or "ES256".
	IDTokenAlg string
}

// ClientError lists what is wrong with a client's description, by field.
type ClientError struct{ Fields map[string]string }

func (e *ClientError) Error() string {
	var parts []string
	for _, k := range []string{"name", "redirect_uri", "post_logout_redirect_uri", "allowed_groups", "backchannel_logout_uri", "id_token_signed_response_alg"} {
		if m, ok := e.Fields[k]; ok {
			parts = append(parts, k+": "+m)
		}
	}
	return strings.Join(parts, "; ")
}

const maxURIs = 20

// validate returns what is wrong with n (nil when nothing).
func (n *NewClient) validate() error {
	e := &ClientError{Fields: map[string]string{}}
	n.Name = strings.TrimSpace(n.Name)
	switch {
	case n.Name == "":
		e.Fields["name"] = "Enter a name."
	case utf8.RuneCountInString(n.Name) > 100 || !utf8.ValidString(n.Name):
		e.Fields["name"] = "A name has at most 100 characters."
	case strings.ContainsFunc(n.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		e.Fields["name"] = "A name cannot contain control characters."
	}
	if len(n.RedirectURIs) == 0 {
		e.Fields["redirect_uri"] = "Enter at least one redirect URI."
	}
	check := func(field string, uris []string) {
		if len(uris) > maxURIs {
			e.Fields[field] = fmt.Sprintf("At most %d URIs.", maxURIs)
			return
		}
		for _, u := range uris {
			if msg := checkRedirectURI(u, n.Public); msg != "" {
				e.Fields[field] = msg
				return
			}
		}
	}
	check("redirect_uri", n.RedirectURIs)
	check("post_logout_redirect_uri", n.PostLogoutRedirectURIs)
	if n.BackchannelLogoutURI = strings.TrimSpace(n.BackchannelLogoutURI); n.BackchannelLogoutURI != "" {
		// Gatehouse's server POSTs there: an http(s) URI, no fragment.
		if msg := checkRedirectURI(n.BackchannelLogoutURI, false); msg != "" {
			e.Fields["backchannel_logout_uri"] = msg
		}
	}
	for _, g := range n.AllowedGroups {
		if msg := models.ValidateGroupName(g); msg != "" {
			e.Fields["allowed_groups"] = msg
		}
	}
	switch n.IDTokenAlg = strings.TrimSpace(n.IDTokenAlg); n.IDTokenAlg {
	case "", string(jose.RS256):
		n.IDTokenAlg = "" // the default, stored as such
	case string(jose.ES256):
	default:
		e.Fields["id_token_signed_response_alg"] = "Choose RS256 or ES256."
	}
	if len(e.Fields) > 0 {
		return e
	}
	return nil
}

// checkRedirectURI returns why u cannot be registered, or "": an absolute
// URI without a fragment; http(s) with a host, or (public clients, RFC
// 8252 §7.1) a private-use scheme.
func checkRedirectURI(u string, public bool) string {
	if u == "" || len(u) > 2048 || !utf8.ValidString(u) || strings.ContainsAny(u, " \t\r\n") {
		return "Enter absolute URIs (at most 2048 characters, no spaces)."
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Fragment != "" || strings.Contains(u, "#") {
		return "Enter an absolute URI without a #fragment, e.g. https://app.example.com/callback."
	}
	switch p.Scheme {
	case "https", "http":
		if p.Host == "" || p.User != nil {
			return "An http(s) URI needs a host (and no user name)."
		}
	default:
		if !public {
			return "Only public (native) clients may use a custom scheme."
		}
		if strings.ContainsAny(p.Scheme, "*") {
			return "Enter a valid scheme."
		}
	}
	return ""
}

// Actor is who changes a client, named in the change's security event:
// StaffID, a staff member in the admin (re-read inside the change's
// transaction, so one demoted a moment ago is refused), or zero for the
// command line (whoever can run it can open the database anyway).
type Actor struct{ StaffID uint }

// CommandLine is the actor of `gatehouse oidc-client`.
var CommandLine = Actor{}

// ErrNotAllowed: the acting staff member is no longer active staff.
var ErrNotAllowed = errors.New("not allowed")

// clientChange runs fn in one transaction with the actor's check and
// records the event fn describes: the change and its record commit
// together, or neither does. fn gets who acts for the event's detail: the
// staff member's username, "" for the command line.
func clientChange(ctx context.Context, db *gorm.DB, actor Actor, fn func(tx *gorm.DB, by string) (models.EventKind, string, error)) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ev := models.AuthEvent{}
		if actor.StaffID != 0 {
			var u models.User
			err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&u, actor.StaffID).Error
			if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && (!u.IsActive || !u.IsStaff)) {
				return ErrNotAllowed
			}
			if err != nil {
				return err
			}
			ev.ActorID, ev.Username = &u.ID, u.Username
		}
		// The admin's event list names no account for these (no user's
		// row is changed): the detail says who (by: the staff member, ""
		// for the command). Its parameters are stored sorted by name, so
		// the cut of a long detail (512 bytes) takes URIs, not who.
		kind, detail, err := fn(tx, ev.Username)
		if err != nil {
			return err
		}
		ev.Kind, ev.Detail = kind, detail
		return models.RecordEvent(tx, ctx, ev)
	})
}

// newClientID is 22 random base64url characters (132 bits) that do not
// start with "-": `oidc-client remove -abc…` would read as a flag (one
// ID in 64 did).
func newClientID() (string, error) {
	for {
		id, err := secret.New()
		if err != nil {
			return "", err
		}
		if id[0] != '-' {
			return id[:22], nil
		}
	}
}

// AddClient registers a client and returns its ID and, for confidential
// clients, its secret — shown once, stored only as a hash.
func AddClient(ctx context.Context, db *gorm.DB, actor Actor, n NewClient) (clientID, clientSecret string, err error) {
	if err := n.validate(); err != nil {
		return "", "", err
	}
	clientID, err = newClientID()
	if err != nil {
		return "", "", err
	}
	row := &models.OIDCClient{
		ClientID: clientID, Name: n.Name, RedirectURIs: models.JoinLines(n.RedirectURIs),
		PostLogoutRedirectURIs: models.JoinLines(n.PostLogoutRedirectURIs), Public: n.Public,
		SkipConsent: n.SkipConsent, AllowedGroups: models.JoinLines(n.AllowedGroups),
		BackchannelLogoutURI: n.BackchannelLogoutURI, IDTokenAlg: n.IDTokenAlg,
	}
	if !n.Public {
		if clientSecret, err = secret.New(); err != nil {
			return "", "", err
		}
		row.SecretHash = secret.HashIn("oidc-client:", clientSecret)
	}
	err = clientChange(ctx, db, actor, func(tx *gorm.DB, by string) (models.EventKind, string, error) {
		code := models.DetailOIDCClientAdded
		if n.Public {
			code = models.DetailOIDCClientAddedPublic
		}
		return models.EventOIDCClientAdded, models.CodedDetail(code, "by", by, "client", clientID, "name", n.Name, "uris", strings.Join(n.RedirectURIs, " ")),
			models.CreateOIDCClient(tx, row)
	})
	if err != nil {
		return "", "", err
	}
	return clientID, clientSecret, nil
}

// UpdateClient changes a client's name, URIs, consent and groups (not its
// kind: a public client cannot become confidential, or the reverse). The
// event names what changed: a new redirect URI is where codes may go.
func UpdateClient(ctx context.Context, db *gorm.DB, actor Actor, clientID string, n NewClient) error {
	return clientChange(ctx, db, actor, func(tx *gorm.DB, by string) (models.EventKind, string, error) {
		var cur models.OIDCClient
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("client_id = ?", clientID).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", "", models.ErrNotFound
		}
		if err != nil {
			return "", "", err
		}
		n.Public = cur.Public
		if err := n.validate(); err != nil {
			return "", "", err
		}
		next := models.OIDCClient{
			ClientID: clientID, Name: n.Name, RedirectURIs: models.JoinLines(n.RedirectURIs),
			PostLogoutRedirectURIs: models.JoinLines(n.PostLogoutRedirectURIs), SkipConsent: n.SkipConsent,
			AllowedGroups: models.JoinLines(n.AllowedGroups), BackchannelLogoutURI: n.BackchannelLogoutURI,
			IDTokenAlg: n.IDTokenAlg,
		}
		var changed []string
		for _, f := range []struct {
			what     string
			was, now string
		}{
			{"name", cur.Name, next.Name},
			{"redirect_uris", cur.RedirectURIs, next.RedirectURIs},
			{"post_logout_redirect_uris", cur.PostLogoutRedirectURIs, next.PostLogoutRedirectURIs},
			{"consent", fmt.Sprint(!cur.SkipConsent), fmt.Sprint(!next.SkipConsent)},
			{"groups", cur.AllowedGroups, next.AllowedGroups},
			{"backchannel_logout_uri", cur.BackchannelLogoutURI, next.BackchannelLogoutURI},
			{"id_token_alg", cur.IDTokenAlg, next.IDTokenAlg},
		} {
			if f.was != f.now {
				changed = append(changed, f.what)
			}
		}
		if len(changed) == 0 {
			changed = []string{"nothing"}
		}
		detail := models.CodedDetail(models.DetailOIDCClientChanged, "by", by, "client", clientID, "name", next.Name, "changed", strings.Join(changed, ","))
		if cur.RedirectURIs != next.RedirectURIs {
			detail = models.CodedDetail(models.DetailOIDCClientChangedURIs, "by", by, "client", clientID, "name", next.Name,
				"changed", strings.Join(changed, ","), "uris", strings.Join(n.RedirectURIs, " "))
		}
		return models.EventOIDCClientChanged, detail, models.UpdateOIDCClient(tx, &next)
	})
}

// RotateSecret gives a confidential client a new secret (returned once);
// the old one stops working at once.
func RotateSecret(ctx context.Context, db *gorm.DB, actor Actor, clientID string) (string, error) {
	s, err := secret.New()
	if err != nil {
		return "", err
	}
	err = clientChange(ctx, db, actor, func(tx *gorm.DB, by string) (models.EventKind, string, error) {
		return models.EventOIDCClientSecret, models.CodedDetail(models.DetailOIDCClientSecret, "by", by, "client", clientID),
			models.SetOIDCClientSecret(tx, clientID, secret.HashIn("oidc-client:", s))
	})
	if err != nil {
		return "", err
	}
	return s, nil
}

// RemoveClient deletes a client with its requests, tokens and grants.
func RemoveClient(ctx context.Context, db *gorm.DB, actor Actor, clientID string) error {
	return clientChange(ctx, db, actor, func(tx *gorm.DB, by string) (models.EventKind, string, error) {
		var cur models.OIDCClient
		err := tx.Where("client_id = ?", clientID).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", "", models.ErrNotFound
		}
		if err != nil {
			return "", "", err
		}
		return models.EventOIDCClientRemoved, models.CodedDetail(models.DetailOIDCClientRemoved, "by", by, "client", clientID, "name", cur.Name),
			models.DeleteOIDCClient(tx, clientID)
	})
}

// Clients lists every client.
func Clients(ctx context.Context, db *gorm.DB) ([]models.OIDCClient, error) {
	return models.OIDCClients(db.WithContext(ctx))
}
