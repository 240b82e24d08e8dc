-- A session's auth_method names the first step and the second factor of a
-- sign-in through another provider ("oidc:<id up to 24>+recovery" is 38
-- characters): widen it from 32 to 64 (issue 27).

-- +goose Up
ALTER TABLE sessions ALTER COLUMN auth_method TYPE varchar(64);

-- +goose Down
UPDATE sessions SET auth_method = left(auth_method, 32) WHERE length(auth_method) > 32;
ALTER TABLE sessions ALTER COLUMN auth_method TYPE varchar(32);
