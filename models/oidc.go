package models

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// OIDCClient is an application registered to sign people in with
// Gatehouse (the OpenID provider, internal/oidcop). Lists are kept one
// item per line.
type OIDCClient struct {
	ID       uint   `gorm:"primaryKey"`
	ClientID string `gorm:"size:64;not null;uniqueIndex:idx_oidc_clients_client_id"`
	Name     string `gorm:"size:100;not null"`
	// SecretHash is the SHA-256 of the client secret (secret.Hash); ""
	// for public clients. Secrets are random, so a fast hash is enough.
	SecretHash             string `gorm:"size:64;not null;default:''"`
	RedirectURIs           string `gorm:"not null;default:''"`
	PostLogoutRedirectURIs string `gorm:"not null;default:''"`
	Public                 bool   `gorm:"not null;default:false"`
	SkipConsent            bool   `gorm:"not null;default:false"`
	// AllowedGroups limits who may sign in (any group listed); "" lets
	// everyone.
	AllowedGroups string `gorm:"not null;default:''"`
	// BackchannelLogoutURI, when set, is told (a signed logout token,
	// OpenID Connect Back-Channel Logout 1.0) when a user's sign-ins to
	// the client end: sign out everywhere, deactivation, deletion,
	// "Remove access".
	BackchannelLogoutURI string `gorm:"not null;default:''"`
	// IDTokenAlg is the algorithm its ID tokens (and logout tokens) are
	// signed with: "ES256", or "" for RS256.
	IDTokenAlg string    `gorm:"column:id_token_signed_response_alg;size:16;not null;default:''"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

// Lines splits a one-item-per-line column.
func Lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// JoinLines is the column form of items.
func JoinLines(items []string) string { return strings.Join(items, "\n") }

// OIDCAuthRequest is one authorization request, from /authorize until its
// code is exchanged (or it expires). It is done once a signed-in user
// approved it (UserID, AuthTime, AMR set); its code is stored hashed and
// used once.
type OIDCAuthRequest struct {
	ID                  string `gorm:"primaryKey;size:64"`
	ClientID            string `gorm:"size:64;not null"`
	RedirectURI         string `gorm:"not null"`
	Scopes              string `gorm:"not null;default:''"`
	State               string `gorm:"not null;default:''"`
	Nonce               string `gorm:"not null;default:''"`
	ResponseMode        string `gorm:"size:32;not null;default:''"`
	CodeChallenge       string `gorm:"size:128;not null;default:''"`
	CodeChallengeMethod string `gorm:"size:16;not null;default:''"`
	Prompt              string `gorm:"size:64;not null;default:''"`
	MaxAge              *int64
	UserID              *uint
	// SessionID is the sid of the browser session that approved the
	// request (OIDCSessionClient), for its ID tokens.
	SessionID  string `gorm:"size:64;not null;default:''"`
	AuthTime   *time.Time
	AMR        string `gorm:"column:amr;size:64;not null;default:''"`
	Done       bool   `gorm:"not null;default:false"`
	CodeHash   *string
	CodeUsedAt *time.Time
	CreatedAt  time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null"`
}

// TableName keeps GORM's naming of the OIDC acronym out of it.
func (OIDCAuthRequest) TableName() string { return "oidc_auth_requests" }

// TableName is oidc_clients.
func (OIDCClient) TableName() string { return "oidc_clients" }

// TableName is oidc_tokens.
func (OIDCToken) TableName() string { return "oidc_tokens" }

// TableName is oidc_grants.
func (OIDCGrant) TableName() string { return "oidc_grants" }

// TableName is oidc_keys.
func (OIDCKey) TableName() string { return "oidc_keys" }

// OIDCToken kinds.
const (
	OIDCAccess  = "access"
	OIDCRefresh = "refresh"
)

// OIDCToken is an access token (the opaque token the client holds
// encrypts this row's ID) or a refresh token (the row keeps only the
// token's hash). GrantID is the authorization request whose code started
// the family: every token of one sign-in shares it, so a family is
// revoked by one UPDATE.
type OIDCToken struct {
	ID        string  `gorm:"primaryKey;size:64"`
	Kind      string  `gorm:"size:16;not null"`
	TokenHash *string `gorm:"size:64"`
	GrantID   string  `gorm:"size:64;not null"`
	UserID    uint    `gorm:"not null"`
	ClientID  string  `gorm:"size:64;not null"`
	Scopes    string  `gorm:"not null;default:''"`
	AuthTime  time.Time
	AMR       string    `gorm:"column:amr;size:64;not null;default:''"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	RevokedAt *time.Time
	// Sid is the browser session's sid (OIDCSessionClient) the sign-in
	// came from, carried from the code to every refresh of the family.
	Sid string `gorm:"size:64;not null;default:''"`
}

// OIDCSessionClient records that the browser session SessionID (the
// session's row ID) signed in to ClientID, and the sid the client's ID
// tokens carry for it: one browser's sign-out sends a logout token with
// that sid to exactly these clients (QueueOIDCSessionLogout). The rows go
// with the session (foreign key).
type OIDCSessionClient struct {
	SessionID string    `gorm:"primaryKey;size:64"`
	ClientID  string    `gorm:"primaryKey;size:64"`
	UserID    uint      `gorm:"not null"`
	Sid       string    `gorm:"size:64;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// TableName is oidc_session_clients.
func (OIDCSessionClient) TableName() string { return "oidc_session_clients" }

// SaveOIDCSessionClient records, inside tx, that sessionID signed in to
// clientID under sid (once: a second sign-in of the same session keeps the
// first row, whose sid is the same).
func SaveOIDCSessionClient(tx *gorm.DB, sessionID, clientID string, userID uint, sid string) error {
	row := OIDCSessionClient{SessionID: sessionID, ClientID: clientID, UserID: userID, Sid: sid, CreatedAt: time.Now().UTC()}
	return dbErr("save oidc session client", tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error)
}

// OIDCSessionSid is the sid under which the session sessionID signed in
// to apps before ("" when it has not): one session keeps one sid, also
// after it moved to a new row.
func OIDCSessionSid(tx *gorm.DB, sessionID string) (string, error) {
	var sids []string
	err := tx.Model(&OIDCSessionClient{}).Where("session_id = ?", sessionID).Limit(1).Pluck("sid", &sids).Error
	if err != nil || len(sids) == 0 {
		return "", dbErr("read oidc session sid", err)
	}
	return sids[0], nil
}

// MoveOIDCSessionClients moves, inside tx, the record of the apps the
// session from signed in to onto the session to, when a session moves to
// a new row (rotation): call it after to is created and before from is
// deleted. The sid stays, so apps keep recognising it.
func MoveOIDCSessionClients(tx *gorm.DB, from, to string) error {
	return dbErr("move oidc session clients", tx.Model(&OIDCSessionClient{}).Where("session_id = ?", from).
		Update("session_id", to).Error)
}

// QueueOIDCSessionLogout queues, inside tx, a back-channel logout job
// carrying its sid for every client with a BackchannelLogoutURI that the
// browser session sessionID signed in to. Call it before the session row
// goes (its rows go with it).
func QueueOIDCSessionLogout(tx *gorm.DB, sessionID string) error {
	var rows []OIDCSessionClient
	err := tx.Table("oidc_session_clients s").Select("s.client_id, s.user_id, s.sid").
		Joins("JOIN oidc_clients c ON c.client_id = s.client_id").
		Where("s.session_id = ? AND c.backchannel_logout_uri <> ''", sessionID).Find(&rows).Error
	if err != nil {
		return dbErr("read oidc session clients", err)
	}
	for _, r := range rows {
		if err := Enqueue(tx, KindOIDCBackchannelLogout, nil, r.ClientID, map[string]string{
			"client_id": r.ClientID, "user_id": strconv.FormatUint(uint64(r.UserID), 10), "sid": r.Sid,
		}); err != nil {
			return err
		}
	}
	return nil
}

// OIDCGrant is what one user let one app see (the consented scopes) and
// when the app last signed them in: the rows of /accounts/apps/.
type OIDCGrant struct {
	UserID     uint      `gorm:"primaryKey;autoIncrement:false"`
	ClientID   string    `gorm:"primaryKey;size:64"`
	Scopes     string    `gorm:"not null;default:''"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
}

// OIDCKey is a signing key: the public half as PEM, the private half
// sealed under a key derived from SECRET_KEY. The newest unretired key
// signs; retired keys stay published until tokens they signed expire.
type OIDCKey struct {
	ID         string    `gorm:"primaryKey;size:64"`
	Algorithm  string    `gorm:"size:16;not null"`
	PublicKey  string    `gorm:"not null"`
	PrivateKey string    `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null"`
	RetiredAt  *time.Time
}

func init() {
	allModels = append(allModels, &OIDCClient{}, &OIDCAuthRequest{}, &OIDCToken{}, &OIDCGrant{}, &OIDCKey{}, &OIDCSessionClient{})
}

// ErrOIDCReuse means a spent code or refresh token was presented again:
// what it issued has been revoked.
var ErrOIDCReuse = errors.New("oidc: spent code or refresh token presented again")

// OIDCClientByID returns the client registered as clientID.
func OIDCClientByID(tx *gorm.DB, clientID string) (*OIDCClient, error) {
	var c OIDCClient
	err := tx.Where("client_id = ?", clientID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &c, dbErr("read oidc client", err)
}

// OIDCClients lists every client by name.
func OIDCClients(tx *gorm.DB) ([]OIDCClient, error) {
	var out []OIDCClient
	err := tx.Order("name, client_id").Find(&out).Error
	return out, dbErr("list oidc clients", err)
}

// CreateOIDCClient stores c.
func CreateOIDCClient(tx *gorm.DB, c *OIDCClient) error {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	return dbErr("create oidc client", tx.Create(c).Error)
}

// UpdateOIDCClient saves what an admin may change of c (everything but
// its ID, kind and secret).
func UpdateOIDCClient(tx *gorm.DB, c *OIDCClient) error {
	res := tx.Model(&OIDCClient{}).Where("client_id = ?", c.ClientID).Updates(map[string]any{
		"name": c.Name, "redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs,
		"skip_consent": c.SkipConsent, "allowed_groups": c.AllowedGroups, "backchannel_logout_uri": c.BackchannelLogoutURI,
		"id_token_signed_response_alg": c.IDTokenAlg,
		"updated_at":                   time.Now().UTC(),
	})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return dbErr("update oidc client", res.Error)
}

// SetOIDCClientSecret replaces a confidential client's secret hash.
func SetOIDCClientSecret(tx *gorm.DB, clientID, hash string) error {
	res := tx.Model(&OIDCClient{}).Where("client_id = ? AND public = ?", clientID, false).
		Updates(map[string]any{"secret_hash": hash, "updated_at": time.Now().UTC()})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return dbErr("set oidc client secret", res.Error)
}

// DeleteOIDCClient removes a client; its requests, tokens and grants go
// with it (foreign keys).
func DeleteOIDCClient(tx *gorm.DB, clientID string) error {
	res := tx.Where("client_id = ?", clientID).Delete(&OIDCClient{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return dbErr("delete oidc client", res.Error)
}

// OIDCAuthRequestByID returns the unexpired request id.
func OIDCAuthRequestByID(tx *gorm.DB, id string) (*OIDCAuthRequest, error) {
	var r OIDCAuthRequest
	err := tx.Where("id = ? AND expires_at > ?", id, time.Now().UTC()).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &r, dbErr("read oidc auth request", err)
}

// OIDCAuthRequestByCode returns the request whose code hashes to hash,
// used or not (the caller treats a used one as reuse).
func OIDCAuthRequestByCode(tx *gorm.DB, hash string) (*OIDCAuthRequest, error) {
	var r OIDCAuthRequest
	err := tx.Where("code_hash = ? AND expires_at > ?", hash, time.Now().UTC()).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &r, dbErr("read oidc auth request", err)
}

// ConsumeOIDCCode marks request id's code used; false when it already was
// (or the request is gone): the conditional UPDATE is what makes a code
// single-use under concurrent exchanges.
func ConsumeOIDCCode(tx *gorm.DB, id string) (bool, error) {
	res := tx.Model(&OIDCAuthRequest{}).Where("id = ? AND code_used_at IS NULL AND done = ?", id, true).
		Update("code_used_at", time.Now().UTC())
	return res.RowsAffected == 1, dbErr("consume oidc code", res.Error)
}

// RevokeOIDCGrantTokens revokes every token of the family grantID.
func RevokeOIDCGrantTokens(tx *gorm.DB, grantID string) (int64, error) {
	res := tx.Model(&OIDCToken{}).Where("grant_id = ? AND revoked_at IS NULL", grantID).
		Update("revoked_at", time.Now().UTC())
	return res.RowsAffected, dbErr("revoke oidc tokens", res.Error)
}

// QueueOIDCBackchannelLogout queues, inside tx, a back-channel logout
// job (KindOIDCBackchannelLogout) for every client with a
// BackchannelLogoutURI that userID has a grant to (clientID only, when it
// is not ""). Call it before the grants go.
func QueueOIDCBackchannelLogout(tx *gorm.DB, userID uint, clientID string) error {
	q := tx.Model(&OIDCClient{}).Where("backchannel_logout_uri <> '' AND client_id IN (?)",
		tx.Model(&OIDCGrant{}).Select("client_id").Where("user_id = ?", userID))
	if clientID != "" {
		q = q.Where("client_id = ?", clientID)
	}
	var ids []string
	if err := q.Pluck("client_id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := Enqueue(tx, KindOIDCBackchannelLogout, nil, id, map[string]string{
			"client_id": id, "user_id": strconv.FormatUint(uint64(userID), 10),
		}); err != nil {
			return err
		}
	}
	return nil
}

// RevokeOIDCUserTokens revokes userID's tokens (of clientID when it is
// not "") and queues the back-channel logouts of those clients: account
// deletion, deactivation, "sign out everywhere" and "Remove access" call
// it inside their transactions.
func RevokeOIDCUserTokens(tx *gorm.DB, userID uint, clientID string) (int64, error) {
	if err := QueueOIDCBackchannelLogout(tx, userID, clientID); err != nil {
		return 0, dbErr("queue oidc back-channel logout", err)
	}
	q := tx.Model(&OIDCToken{}).Where("user_id = ? AND revoked_at IS NULL", userID)
	if clientID != "" {
		q = q.Where("client_id = ?", clientID)
	}
	res := q.Update("revoked_at", time.Now().UTC())
	return res.RowsAffected, dbErr("revoke oidc tokens", res.Error)
}

// OIDCTokenByID returns a live (unrevoked, unexpired) token.
func OIDCTokenByID(tx *gorm.DB, id, kind string) (*OIDCToken, error) {
	var t OIDCToken
	err := tx.Where("id = ? AND kind = ? AND revoked_at IS NULL AND expires_at > ?", id, kind, time.Now().UTC()).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &t, dbErr("read oidc token", err)
}

// OIDCRefreshByHash returns the refresh token whose hash is hash, in any
// state (spent and revoked ones too: the caller detects reuse).
func OIDCRefreshByHash(tx *gorm.DB, hash string) (*OIDCToken, error) {
	var t OIDCToken
	err := tx.Where("token_hash = ? AND kind = ?", hash, OIDCRefresh).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &t, dbErr("read oidc refresh token", err)
}

// SpendOIDCRefresh marks a live refresh token used; false when it was
// spent, revoked or expired already — the one conditional write that
// decides which of two concurrent uses wins.
func SpendOIDCRefresh(tx *gorm.DB, id string) (bool, error) {
	now := time.Now().UTC()
	res := tx.Model(&OIDCToken{}).
		Where("id = ? AND kind = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", id, OIDCRefresh, now).
		Update("used_at", now)
	return res.RowsAffected == 1, dbErr("spend oidc refresh token", res.Error)
}

// OIDCGrantOf returns userID's grant to clientID.
func OIDCGrantOf(tx *gorm.DB, userID uint, clientID string) (*OIDCGrant, error) {
	var g OIDCGrant
	err := tx.Where("user_id = ? AND client_id = ?", userID, clientID).Take(&g).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &g, dbErr("read oidc grant", err)
}

// SaveOIDCGrant records (or refreshes) userID's grant of scopes to
// clientID, as an upsert so parallel sign-ins cannot collide.
func SaveOIDCGrant(tx *gorm.DB, userID uint, clientID, scopes string) error {
	now := time.Now().UTC()
	g := OIDCGrant{UserID: userID, ClientID: clientID, Scopes: scopes, CreatedAt: now, LastUsedAt: now}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "last_used_at"}),
	}).Create(&g).Error
	return dbErr("save oidc grant", err)
}

// DeleteOIDCGrant removes userID's grant to clientID (false when there
// was none).
func DeleteOIDCGrant(tx *gorm.DB, userID uint, clientID string) (bool, error) {
	res := tx.Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&OIDCGrant{})
	return res.RowsAffected == 1, dbErr("delete oidc grant", res.Error)
}

// OIDCAppInfo is one row of /accounts/apps/.
type OIDCAppInfo struct {
	ClientID   string
	Name       string
	Scopes     string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// OIDCAppsOf lists the apps userID signed in to, most recent first.
func OIDCAppsOf(ctx context.Context, db *gorm.DB, userID uint) ([]OIDCAppInfo, error) {
	var out []OIDCAppInfo
	err := db.WithContext(ctx).Table("oidc_grants g").
		Select("g.client_id, c.name, g.scopes, g.created_at, g.last_used_at").
		Joins("JOIN oidc_clients c ON c.client_id = g.client_id").
		Where("g.user_id = ?", userID).Order("g.last_used_at DESC").Scan(&out).Error
	return out, dbErr("list oidc apps", err)
}

// OIDCKeys returns every signing key, newest first.
func OIDCKeys(tx *gorm.DB) ([]OIDCKey, error) {
	var out []OIDCKey
	err := tx.Order("created_at DESC, id DESC").Find(&out).Error
	return out, dbErr("list oidc keys", err)
}

// SweepOIDC deletes expired authorization requests and tokens.
func SweepOIDC(ctx context.Context, db *gorm.DB) (int64, error) {
	now := time.Now().UTC()
	a := db.WithContext(ctx).Where("expires_at < ?", now).Delete(&OIDCAuthRequest{})
	if a.Error != nil {
		return 0, dbErr("sweep oidc requests", a.Error)
	}
	t := db.WithContext(ctx).Where("expires_at < ?", now).Delete(&OIDCToken{})
	return a.RowsAffected + t.RowsAffected, dbErr("sweep oidc tokens", t.Error)
}

// OIDCTokenUser is what userinfo answers from: a live access token's
// scopes and its active user's claims.
type OIDCTokenUser struct {
	UserID        uint
	Username      string
	Email         string
	EmailVerified bool
	Scopes        string
	// GroupNames are the user's groups, sorted, joined by commas.
	GroupNames string
	// ExpiresAt is when the token expires.
	ExpiresAt time.Time
}

// NewOIDCUserinfoQuery returns the userinfo endpoint's statement: the
// access token (unrevoked, unexpired), its user (active) and the user's
// groups in one round trip.
func NewOIDCUserinfoQuery(db *gorm.DB) *Prepared {
	return NewPrepared(db, func(db *gorm.DB) string {
		return "SELECT u.id, u.username, u.email, u.email_verified, t.scopes, t.expires_at, " + GroupNamesColumn(db, "u.id") +
			" FROM oidc_tokens t JOIN users u ON u.id = t.user_id" +
			" WHERE t.id = ? AND t.kind = '" + OIDCAccess + "' AND t.revoked_at IS NULL AND t.expires_at > ? AND u.is_active = ?"
	})
}

// OIDCLiveAccessToken reads a live access token and its active user with
// q (NewOIDCUserinfoQuery); ErrNotFound when the token is unknown,
// revoked or expired or its user inactive.
func OIDCLiveAccessToken(ctx context.Context, q *Prepared, tokenID string, now time.Time) (OIDCTokenUser, error) {
	var r OIDCTokenUser
	if tokenID == "" || len(tokenID) > 64 {
		return r, ErrNotFound
	}
	stmt, err := q.Stmt(context.WithoutCancel(ctx))
	if err != nil {
		return r, dbErr("read access token", err)
	}
	var groups sql.NullString
	err = stmt.QueryRowContext(context.WithoutCancel(ctx), tokenID, now.UTC(), true).
		Scan(&r.UserID, &r.Username, &r.Email, &r.EmailVerified, &r.Scopes, &r.ExpiresAt, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.GroupNames = groups.String
	return r, dbErr("read access token", err)
}
