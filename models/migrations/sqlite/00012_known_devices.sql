-- Known browsers per account (issue 13, OWASP's device cookie): only the
-- hash of each browser's long-lived cookie.

-- +goose Up
CREATE TABLE `known_devices` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer NOT NULL,`token_hash` text NOT NULL,`created_at` datetime NOT NULL,`last_used_at` datetime NOT NULL,CONSTRAINT `fk_known_devices_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_known_devices_user_hash` ON `known_devices`(`user_id`,`token_hash`);

-- +goose Down
DROP TABLE `known_devices`;
