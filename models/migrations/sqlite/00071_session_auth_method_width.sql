-- A session's auth_method names the first step and the second factor of a
-- sign-in through another provider (issue 27). SQLite's column is text,
-- which holds any length: nothing to change; the number exists so both
-- dialects keep the same versions.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
