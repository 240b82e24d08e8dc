-- Known browsers per account (issue 13, OWASP's device cookie): only the
-- hash of each browser's long-lived cookie.

-- +goose Up
CREATE TABLE known_devices (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX idx_known_devices_user_hash ON known_devices (user_id, token_hash);

-- +goose Down
DROP TABLE known_devices;
