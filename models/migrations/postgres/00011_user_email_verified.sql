-- E-mail verification (issue 13): whether the owner confirmed the address.
-- Accounts that exist before verification existed count as verified.

-- +goose Up
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
UPDATE users SET email_verified = true;

-- +goose Down
ALTER TABLE users DROP COLUMN email_verified;
