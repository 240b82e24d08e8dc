-- OpenID Connect provider (issue 26): registered clients, pending
-- authorization requests (with the hash of the code they issued), the
-- access and refresh tokens of each grant (refresh tokens hashed; a grant
-- is one code exchange, its ID the authorization request's, so reuse of a
-- code or a spent refresh token revokes the whole family), what each user
-- let each app see, and the signing keys (private halves sealed under a key
-- derived from SECRET_KEY).

-- +goose Up
CREATE TABLE oidc_clients (
    id bigserial PRIMARY KEY,
    client_id varchar(64) NOT NULL,
    name varchar(100) NOT NULL,
    secret_hash varchar(64) NOT NULL DEFAULT '',
    redirect_uris text NOT NULL DEFAULT '',
    post_logout_redirect_uris text NOT NULL DEFAULT '',
    public boolean NOT NULL DEFAULT false,
    skip_consent boolean NOT NULL DEFAULT false,
    allowed_groups text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX idx_oidc_clients_client_id ON oidc_clients (client_id);
CREATE TABLE oidc_auth_requests (
    id varchar(64) PRIMARY KEY,
    client_id varchar(64) NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    redirect_uri text NOT NULL,
    scopes text NOT NULL DEFAULT '',
    state text NOT NULL DEFAULT '',
    nonce text NOT NULL DEFAULT '',
    response_mode varchar(32) NOT NULL DEFAULT '',
    code_challenge varchar(128) NOT NULL DEFAULT '',
    code_challenge_method varchar(16) NOT NULL DEFAULT '',
    prompt varchar(64) NOT NULL DEFAULT '',
    max_age bigint,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    session_id varchar(64) NOT NULL DEFAULT '',
    auth_time timestamptz,
    amr varchar(64) NOT NULL DEFAULT '',
    done boolean NOT NULL DEFAULT false,
    code_hash varchar(64),
    code_used_at timestamptz,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX idx_oidc_auth_requests_code ON oidc_auth_requests (code_hash);
CREATE INDEX idx_oidc_auth_requests_expires ON oidc_auth_requests (expires_at);
CREATE TABLE oidc_tokens (
    id varchar(64) PRIMARY KEY,
    kind varchar(16) NOT NULL,
    token_hash varchar(64),
    grant_id varchar(64) NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id varchar(64) NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    scopes text NOT NULL DEFAULT '',
    auth_time timestamptz NOT NULL,
    amr varchar(64) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX idx_oidc_tokens_hash ON oidc_tokens (token_hash);
CREATE INDEX idx_oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX idx_oidc_tokens_user_client ON oidc_tokens (user_id, client_id);
CREATE INDEX idx_oidc_tokens_expires ON oidc_tokens (expires_at);
CREATE TABLE oidc_grants (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id varchar(64) NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    scopes text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE TABLE oidc_keys (
    id varchar(64) PRIMARY KEY,
    algorithm varchar(16) NOT NULL,
    public_key text NOT NULL,
    private_key text NOT NULL,
    created_at timestamptz NOT NULL,
    retired_at timestamptz
);

-- +goose Down
DROP TABLE oidc_keys;
DROP TABLE oidc_grants;
DROP TABLE oidc_tokens;
DROP TABLE oidc_auth_requests;
DROP TABLE oidc_clients;
