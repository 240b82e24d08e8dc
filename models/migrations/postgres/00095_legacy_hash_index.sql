-- The legacy-hash dummy's refresh (every sweep, and at start) and the
-- admin's "legacy hash" filter look for users whose password is a hash
-- imported from another system. Without an index that is a scan of the
-- whole users table every ten minutes. A partial index holds only those
-- users, usually none; its condition is models.legacyHashSQL, written out
-- identically so the planner can use it.

-- +goose Up
CREATE INDEX idx_users_legacy_hash ON users (id) WHERE password NOT LIKE '$argon2id$%' AND password <> '' AND password NOT LIKE '!%';

-- +goose Down
DROP INDEX idx_users_legacy_hash;
