-- Two-factor authentication (issue 14): one table of authenticators (an
-- authenticator app's TOTP secret, sealed with a key derived from
-- SECRET_KEY; recovery codes, hashed; passkeys, their public key), read only
-- after a password is right or from the 2FA pages, never on the session hot
-- path. A pending login keeps its "remember me" choice on the session row.

-- +goose Up
CREATE TABLE authenticators (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind varchar(16) NOT NULL,
    name varchar(64) NOT NULL DEFAULT '',
    secret varchar(512) NOT NULL DEFAULT '',
    code_hash varchar(64) NOT NULL DEFAULT '',
    credential_id varchar(1400) NOT NULL DEFAULT '',
    credential text NOT NULL DEFAULT '',
    last_used_step bigint NOT NULL DEFAULT 0,
    used_at timestamptz,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX idx_authenticators_user_kind ON authenticators (user_id, kind);
CREATE UNIQUE INDEX idx_authenticators_credential_id ON authenticators (credential_id) WHERE credential_id <> '';
CREATE UNIQUE INDEX idx_authenticators_one_totp ON authenticators (user_id) WHERE kind = 'totp';
ALTER TABLE sessions ADD COLUMN pending_remember boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE sessions DROP COLUMN pending_remember;
DROP TABLE authenticators;
