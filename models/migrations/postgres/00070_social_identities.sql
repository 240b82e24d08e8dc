-- Identities at other sign-in providers connected to accounts (issue 27,
-- django-allauth's socialaccount), and the sign-ins through them in
-- progress (state hash, browser binding hash, the claims awaiting the
-- short sign-up form).

-- +goose Up
CREATE TABLE social_identities (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider varchar(32) NOT NULL,
    subject varchar(255) NOT NULL,
    email varchar(254) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX idx_social_identities_provider_subject ON social_identities (provider, subject);
CREATE INDEX idx_social_identities_user_id ON social_identities (user_id);
CREATE TABLE social_flows (
    id varchar(64) PRIMARY KEY,
    binding varchar(64) NOT NULL,
    provider varchar(32) NOT NULL,
    purpose varchar(16) NOT NULL,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    next varchar(1024) NOT NULL DEFAULT '',
    stage varchar(16) NOT NULL,
    subject varchar(255) NOT NULL DEFAULT '',
    email varchar(254) NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    username varchar(150) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX idx_social_flows_binding ON social_flows (binding);
CREATE INDEX idx_social_flows_user_id ON social_flows (user_id);
CREATE INDEX idx_social_flows_expires_at ON social_flows (expires_at);

-- +goose Down
DROP TABLE social_flows;
DROP TABLE social_identities;
