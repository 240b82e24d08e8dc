-- No two accounts may share an e-mail address (compared by the folded key,
-- as usernames are). '' is an account without an address, or one whose
-- shared address migration 00004 left to another account.

-- +goose Up
CREATE UNIQUE INDEX `idx_users_email_key_unique` ON `users`(`email_key`) WHERE `email_key` <> '';

-- +goose Down
DROP INDEX `idx_users_email_key_unique`;
