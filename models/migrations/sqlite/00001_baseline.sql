-- The schema GORM AutoMigrate made before versioned migrations (release
-- ef02412). IF NOT EXISTS lets a database made by that release adopt this
-- baseline in place: every statement is then a no-op and the version table
-- records 1. Keep it as it is; change the schema in a new migration.

-- +goose Up
CREATE TABLE IF NOT EXISTS `users` (`id` integer PRIMARY KEY AUTOINCREMENT,`username` text NOT NULL,`username_key` text NOT NULL,`email` text NOT NULL DEFAULT '',`email_key` text NOT NULL DEFAULT '',`password` text NOT NULL,`is_active` numeric NOT NULL DEFAULT true,`is_staff` numeric NOT NULL DEFAULT false,`is_superuser` numeric NOT NULL DEFAULT false,`date_joined` datetime NOT NULL,`last_login` datetime);
CREATE INDEX IF NOT EXISTS `idx_users_last_login` ON `users`(`last_login`);
CREATE INDEX IF NOT EXISTS `idx_users_date_joined` ON `users`(`date_joined`);
CREATE INDEX IF NOT EXISTS `idx_users_is_superuser` ON `users`(`is_superuser`);
CREATE INDEX IF NOT EXISTS `idx_users_is_staff` ON `users`(`is_staff`);
CREATE INDEX IF NOT EXISTS `idx_users_is_active` ON `users`(`is_active`);
CREATE INDEX IF NOT EXISTS `idx_users_email_key` ON `users`(`email_key`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_users_username_key` ON `users`(`username_key`);

CREATE TABLE IF NOT EXISTS `sessions` (`id` text,`user_id` integer,`data` blob,`created_at` datetime NOT NULL,`last_seen_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`user_agent` text NOT NULL DEFAULT '',`ip` text NOT NULL DEFAULT '',PRIMARY KEY (`id`),CONSTRAINT `fk_sessions_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS `idx_sessions_expires_at` ON `sessions`(`expires_at`);
CREATE INDEX IF NOT EXISTS `idx_sessions_user_id` ON `sessions`(`user_id`);

CREATE TABLE IF NOT EXISTS `auth_events` (`id` integer PRIMARY KEY AUTOINCREMENT,`kind` text NOT NULL,`user_id` integer,`username` text NOT NULL DEFAULT '',`actor_id` integer,`ip` text NOT NULL DEFAULT '',`user_agent` text NOT NULL DEFAULT '',`detail` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL);
CREATE INDEX IF NOT EXISTS `idx_auth_events_created_at` ON `auth_events`(`created_at`);
CREATE INDEX IF NOT EXISTS `idx_auth_events_actor_id` ON `auth_events`(`actor_id`);
CREATE INDEX IF NOT EXISTS `idx_auth_events_user_time` ON `auth_events`(`user_id`,`created_at`);
CREATE INDEX IF NOT EXISTS `idx_auth_events_kind` ON `auth_events`(`kind`);

CREATE TABLE IF NOT EXISTS `throttle_counters` (`id` integer PRIMARY KEY AUTOINCREMENT,`key` text NOT NULL,`scope` text NOT NULL DEFAULT '',`window_start` datetime NOT NULL,`count` integer NOT NULL DEFAULT 0,`strikes` integer NOT NULL DEFAULT 0,`blocked_until` datetime NOT NULL,`updated_at` datetime NOT NULL);
CREATE INDEX IF NOT EXISTS `idx_throttle_counters_updated_at` ON `throttle_counters`(`updated_at`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_throttle_counters_key` ON `throttle_counters`(`key`);

CREATE TABLE IF NOT EXISTS `password_reset_tokens` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer NOT NULL,`token_hash` text NOT NULL,`expires_at` datetime NOT NULL,`used_at` datetime,`created_at` datetime NOT NULL,CONSTRAINT `fk_password_reset_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS `idx_password_reset_tokens_expires_at` ON `password_reset_tokens`(`expires_at`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_password_reset_tokens_token_hash` ON `password_reset_tokens`(`token_hash`);
CREATE INDEX IF NOT EXISTS `idx_reset_user_created` ON `password_reset_tokens`(`user_id`,`created_at`);

-- +goose Down
DROP TABLE IF EXISTS `password_reset_tokens`;
DROP TABLE IF EXISTS `throttle_counters`;
DROP TABLE IF EXISTS `auth_events`;
DROP TABLE IF EXISTS `sessions`;
DROP TABLE IF EXISTS `users`;
