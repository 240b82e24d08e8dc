-- The baseline schema on PostgreSQL: the same tables, columns and indexes as
-- the SQLite baseline, in PostgreSQL's types. The folded keys use COLLATE "C"
-- so the admin search's range scans compare bytes, as SQLite's BINARY does.
-- Keep it as it is; change the schema in a new migration.

-- +goose Up
CREATE TABLE IF NOT EXISTS users (
    id bigserial PRIMARY KEY,
    username varchar(150) NOT NULL,
    username_key varchar(600) COLLATE "C" NOT NULL,
    email varchar(254) NOT NULL DEFAULT '',
    email_key varchar(1016) COLLATE "C" NOT NULL DEFAULT '',
    password varchar(255) NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    is_staff boolean NOT NULL DEFAULT false,
    is_superuser boolean NOT NULL DEFAULT false,
    date_joined timestamptz NOT NULL,
    last_login timestamptz
);
CREATE INDEX IF NOT EXISTS idx_users_last_login ON users (last_login);
CREATE INDEX IF NOT EXISTS idx_users_date_joined ON users (date_joined);
CREATE INDEX IF NOT EXISTS idx_users_is_superuser ON users (is_superuser);
CREATE INDEX IF NOT EXISTS idx_users_is_staff ON users (is_staff);
CREATE INDEX IF NOT EXISTS idx_users_is_active ON users (is_active);
CREATE INDEX IF NOT EXISTS idx_users_email_key ON users (email_key);
CREATE UNIQUE INDEX IF NOT EXISTS idx_users_username_key ON users (username_key);

CREATE TABLE IF NOT EXISTS sessions (
    id varchar(64) PRIMARY KEY,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    data bytea,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    user_agent varchar(512) NOT NULL DEFAULT '',
    ip varchar(64) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions (user_id);

CREATE TABLE IF NOT EXISTS auth_events (
    id bigserial PRIMARY KEY,
    kind varchar(64) NOT NULL,
    user_id bigint,
    username varchar(150) NOT NULL DEFAULT '',
    actor_id bigint,
    ip varchar(64) NOT NULL DEFAULT '',
    user_agent varchar(512) NOT NULL DEFAULT '',
    detail varchar(512) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_auth_events_created_at ON auth_events (created_at);
CREATE INDEX IF NOT EXISTS idx_auth_events_actor_id ON auth_events (actor_id);
CREATE INDEX IF NOT EXISTS idx_auth_events_user_time ON auth_events (user_id, created_at);
CREATE INDEX IF NOT EXISTS idx_auth_events_kind ON auth_events (kind);

CREATE TABLE IF NOT EXISTS throttle_counters (
    id bigserial PRIMARY KEY,
    key varchar(64) NOT NULL,
    scope varchar(64) NOT NULL DEFAULT '',
    window_start timestamptz NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    strikes bigint NOT NULL DEFAULT 0,
    blocked_until timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_throttle_counters_updated_at ON throttle_counters (updated_at);
CREATE UNIQUE INDEX IF NOT EXISTS idx_throttle_counters_key ON throttle_counters (key);

CREATE TABLE IF NOT EXISTS password_reset_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash varchar(64) NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_password_reset_tokens_expires_at ON password_reset_tokens (expires_at);
CREATE UNIQUE INDEX IF NOT EXISTS idx_password_reset_tokens_token_hash ON password_reset_tokens (token_hash);
CREATE INDEX IF NOT EXISTS idx_reset_user_created ON password_reset_tokens (user_id, created_at);

-- +goose Down
DROP TABLE IF EXISTS password_reset_tokens;
DROP TABLE IF EXISTS throttle_counters;
DROP TABLE IF EXISTS auth_events;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
