-- Two-factor authentication (issue 14): one table of authenticators (an
-- authenticator app's TOTP secret, sealed with a key derived from
-- SECRET_KEY; recovery codes, hashed; passkeys, their public key), read only
-- after a password is right or from the 2FA pages, never on the session hot
-- path. A pending login keeps its "remember me" choice on the session row.

-- +goose Up
CREATE TABLE `authenticators` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer NOT NULL,`kind` text NOT NULL,`name` text NOT NULL DEFAULT '',`secret` text NOT NULL DEFAULT '',`code_hash` text NOT NULL DEFAULT '',`credential_id` text NOT NULL DEFAULT '',`credential` text NOT NULL DEFAULT '',`last_used_step` integer NOT NULL DEFAULT 0,`used_at` datetime,`created_at` datetime NOT NULL,`last_used_at` datetime,CONSTRAINT `fk_authenticators_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_authenticators_user_kind` ON `authenticators`(`user_id`,`kind`);
CREATE UNIQUE INDEX `idx_authenticators_credential_id` ON `authenticators`(`credential_id`) WHERE `credential_id` <> '';
CREATE UNIQUE INDEX `idx_authenticators_one_totp` ON `authenticators`(`user_id`) WHERE `kind` = 'totp';
ALTER TABLE `sessions` ADD COLUMN `pending_remember` numeric NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE `sessions` DROP COLUMN `pending_remember`;
DROP TABLE `authenticators`;
