package oidcop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"gatehouse/internal/secret"
	"gatehouse/models"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a
// user's sign-ins to an app end in Gatehouse — sign out everywhere,
// deactivation, deletion, "Remove access" — the flow's transaction queues
// an outbox job per app that registered a back-channel logout URI and
// holds a grant (models.QueueOIDCBackchannelLogout); the worker runs
// BackchannelLogout, which POSTs a logout token signed with the current
// signing key, and the outbox retries it with back-off until the app
// answers 200. Those tokens carry sub alone: the app ends every session
// of that user, which is what those flows mean. One browser's sign-out
// (auth.Accounts.Logout: the sign-out button, RP-initiated logout)
// queues a token per app that browser session signed in to
// (models.QueueOIDCSessionLogout), carrying sub and the session's sid —
// the sid of the ID tokens issued to that session (Provider.SessionSID) —
// so the app ends just the sessions that came from it.

// logoutTokenLifetime bounds a logout token's exp.
const logoutTokenLifetime = 2 * time.Minute

// backchannelClient posts logout tokens: bounded, and never follows a
// redirect (the registered URI is the only address told).
var backchannelClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// BackchannelLogout runs one KindOIDCBackchannelLogout job: a client gone
// or without a URI is done; an answer other than 200 (or none) is an
// error, for the outbox to retry.
func (p *Provider) BackchannelLogout(ctx context.Context, job *models.OutboxMessage) error {
	d := job.Data()
	userID, err := strconv.ParseUint(d["user_id"], 10, 32)
	if err != nil {
		return &models.RecipientGone{Reason: "back-channel logout job without a user"}
	}
	c, err := models.OIDCClientByID(p.db.WithContext(ctx), d["client_id"])
	if errors.Is(err, models.ErrNotFound) || (err == nil && c.BackchannelLogoutURI == "") {
		return nil // removed, or no longer asks
	}
	if err != nil {
		return err
	}
	token, err := p.logoutToken(c.ClientID, jose.SignatureAlgorithm(c.IDTokenAlg), p.Subject(uint(userID)), d["sid"])
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := backchannelClient.Do(req)
	if err != nil {
		return fmt.Errorf("back-channel logout to client %s: %w", c.ClientID, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("back-channel logout to client %s: %s", c.ClientID, res.Status)
	}
	return nil
}

// logoutToken is a logout token for sub at clientID (§2.4) — for the one
// browser session sid when sid is not "" — signed with the current key
// of the client's ID token algorithm alg (RS256 when ""), typ logout+jwt
// (§2.4, as RFC 8417 suggests).
func (p *Provider) logoutToken(clientID string, alg jose.SignatureAlgorithm, sub, sid string) (string, error) {
	ks, err := p.keys.load()
	if err != nil {
		return "", err
	}
	k := ks.signer(alg)
	jti, err := secret.New()
	if err != nil {
		return "", err
	}
	claims := oidc.NewLogoutTokenClaims(p.opts.Issuer, sub, oidc.Audience{clientID}, time.Now().Add(logoutTokenLifetime), jti, sid, 0)
	payload, err := claims.MarshalJSON()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
