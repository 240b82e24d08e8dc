-- The redesign (issue 10): typed session columns, one table of one-time
-- tokens for every purpose (reset links move over, hashes only), and the
-- durable outbox.

-- +goose Up
ALTER TABLE `sessions` ADD COLUMN `auth_at` datetime;
ALTER TABLE `sessions` ADD COLUMN `auth_method` text NOT NULL DEFAULT '';
ALTER TABLE `sessions` ADD COLUMN `pending_user_id` integer REFERENCES `users`(`id`) ON DELETE CASCADE;
ALTER TABLE `sessions` ADD COLUMN `pending_at` datetime;
ALTER TABLE `sessions` ADD COLUMN `persistent` numeric NOT NULL DEFAULT false;
ALTER TABLE `sessions` ADD COLUMN `reset_hash` text NOT NULL DEFAULT '';
CREATE INDEX `idx_sessions_pending_user_id` ON `sessions`(`pending_user_id`);
-- Signed-in sessions of the old release had a lasting cookie: they stay
-- persistent, signed in by password when they were made. Anonymous ones
-- only carried a flash or a reset link in progress; they end (a visitor
-- asks for the link again). Flashes in flight are dropped.
UPDATE `sessions` SET `persistent` = true, `auth_at` = `created_at`, `auth_method` = 'password', `data` = NULL WHERE `user_id` IS NOT NULL;
DELETE FROM `sessions` WHERE `user_id` IS NULL;

CREATE TABLE `one_time_tokens` (`id` integer PRIMARY KEY AUTOINCREMENT,`purpose` text NOT NULL,`user_id` integer NOT NULL,`token_hash` text NOT NULL,`payload` text NOT NULL DEFAULT '',`outbox_id` integer,`expires_at` datetime NOT NULL,`used_at` datetime,`created_at` datetime NOT NULL,CONSTRAINT `fk_one_time_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE UNIQUE INDEX `idx_one_time_tokens_token_hash` ON `one_time_tokens`(`token_hash`);
CREATE INDEX `idx_token_user_purpose` ON `one_time_tokens`(`user_id`,`purpose`);
CREATE INDEX `idx_one_time_tokens_outbox_id` ON `one_time_tokens`(`outbox_id`);
CREATE INDEX `idx_one_time_tokens_expires_at` ON `one_time_tokens`(`expires_at`);
INSERT INTO `one_time_tokens` (`purpose`,`user_id`,`token_hash`,`expires_at`,`used_at`,`created_at`)
  SELECT 'password_reset', `user_id`, `token_hash`, `expires_at`, `used_at`, `created_at` FROM `password_reset_tokens`;
DROP TABLE `password_reset_tokens`;

CREATE TABLE `outbox_messages` (`id` integer PRIMARY KEY AUTOINCREMENT,`kind` text NOT NULL,`user_id` integer,`recipient` text NOT NULL DEFAULT '',`payload` text NOT NULL DEFAULT '{}',`attempts` integer NOT NULL DEFAULT 0,`next_attempt_at` datetime NOT NULL,`claimed_until` datetime,`sent_at` datetime,`failed_at` datetime,`last_error` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL);
CREATE INDEX `idx_outbox_messages_user_id` ON `outbox_messages`(`user_id`);
CREATE INDEX `idx_outbox_due` ON `outbox_messages`(`sent_at`,`next_attempt_at`);
CREATE INDEX `idx_outbox_messages_created_at` ON `outbox_messages`(`created_at`);

-- +goose Down
DROP TABLE `outbox_messages`;
CREATE TABLE `password_reset_tokens` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer NOT NULL,`token_hash` text NOT NULL,`expires_at` datetime NOT NULL,`used_at` datetime,`created_at` datetime NOT NULL,CONSTRAINT `fk_password_reset_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_password_reset_tokens_expires_at` ON `password_reset_tokens`(`expires_at`);
CREATE UNIQUE INDEX `idx_password_reset_tokens_token_hash` ON `password_reset_tokens`(`token_hash`);
CREATE INDEX `idx_reset_user_created` ON `password_reset_tokens`(`user_id`,`created_at`);
INSERT INTO `password_reset_tokens` (`user_id`,`token_hash`,`expires_at`,`used_at`,`created_at`)
  SELECT `user_id`, `token_hash`, `expires_at`, `used_at`, `created_at` FROM `one_time_tokens` WHERE `purpose` = 'password_reset';
DROP TABLE `one_time_tokens`;
DROP INDEX `idx_sessions_pending_user_id`;
ALTER TABLE `sessions` DROP COLUMN `reset_hash`;
ALTER TABLE `sessions` DROP COLUMN `persistent`;
ALTER TABLE `sessions` DROP COLUMN `pending_at`;
ALTER TABLE `sessions` DROP COLUMN `pending_user_id`;
ALTER TABLE `sessions` DROP COLUMN `auth_method`;
ALTER TABLE `sessions` DROP COLUMN `auth_at`;
