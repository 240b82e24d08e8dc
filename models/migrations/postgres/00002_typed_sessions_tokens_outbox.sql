-- The redesign (issue 10): typed session columns, one table of one-time
-- tokens for every purpose (reset links move over, hashes only), and the
-- durable outbox. Same schema as the SQLite file of this number.

-- +goose Up
ALTER TABLE sessions ADD COLUMN auth_at timestamptz;
ALTER TABLE sessions ADD COLUMN auth_method varchar(32) NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN pending_user_id bigint REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN pending_at timestamptz;
ALTER TABLE sessions ADD COLUMN persistent boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN reset_hash varchar(64) NOT NULL DEFAULT '';
CREATE INDEX idx_sessions_pending_user_id ON sessions (pending_user_id);
UPDATE sessions SET persistent = true, auth_at = created_at, auth_method = 'password', data = NULL WHERE user_id IS NOT NULL;
DELETE FROM sessions WHERE user_id IS NULL;

CREATE TABLE one_time_tokens (
    id bigserial PRIMARY KEY,
    purpose varchar(32) NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash varchar(64) NOT NULL,
    payload varchar(1024) NOT NULL DEFAULT '',
    outbox_id bigint,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX idx_one_time_tokens_token_hash ON one_time_tokens (token_hash);
CREATE INDEX idx_token_user_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX idx_one_time_tokens_outbox_id ON one_time_tokens (outbox_id);
CREATE INDEX idx_one_time_tokens_expires_at ON one_time_tokens (expires_at);
INSERT INTO one_time_tokens (purpose, user_id, token_hash, expires_at, used_at, created_at)
  SELECT 'password_reset', user_id, token_hash, expires_at, used_at, created_at FROM password_reset_tokens;
DROP TABLE password_reset_tokens;

CREATE TABLE outbox_messages (
    id bigserial PRIMARY KEY,
    kind varchar(64) NOT NULL,
    user_id bigint,
    recipient varchar(254) NOT NULL DEFAULT '',
    payload text NOT NULL DEFAULT '{}',
    attempts bigint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_until timestamptz,
    sent_at timestamptz,
    failed_at timestamptz,
    last_error varchar(512) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX idx_outbox_messages_user_id ON outbox_messages (user_id);
CREATE INDEX idx_outbox_due ON outbox_messages (sent_at, next_attempt_at);
CREATE INDEX idx_outbox_messages_created_at ON outbox_messages (created_at);

-- +goose Down
DROP TABLE outbox_messages;
CREATE TABLE password_reset_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash varchar(64) NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX idx_password_reset_tokens_expires_at ON password_reset_tokens (expires_at);
CREATE UNIQUE INDEX idx_password_reset_tokens_token_hash ON password_reset_tokens (token_hash);
CREATE INDEX idx_reset_user_created ON password_reset_tokens (user_id, created_at);
INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, used_at, created_at)
  SELECT user_id, token_hash, expires_at, used_at, created_at FROM one_time_tokens WHERE purpose = 'password_reset';
DROP TABLE one_time_tokens;
ALTER TABLE sessions DROP COLUMN reset_hash, DROP COLUMN persistent, DROP COLUMN pending_at,
  DROP COLUMN pending_user_id, DROP COLUMN auth_method, DROP COLUMN auth_at;
