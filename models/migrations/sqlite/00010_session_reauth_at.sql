-- Re-authentication ("sudo mode", issue 13): when the user last gave their
-- password in this session. Existing sessions count from their sign-in.

-- +goose Up
ALTER TABLE `sessions` ADD COLUMN `reauth_at` datetime;
UPDATE `sessions` SET `reauth_at` = `auth_at`;

-- +goose Down
ALTER TABLE `sessions` DROP COLUMN `reauth_at`;
