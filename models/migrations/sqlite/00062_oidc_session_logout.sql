-- Back-channel logout with sid (issue 26): which apps each browser session
-- signed in to, under the opaque sid their ID tokens carry (an HMAC of the
-- session's row ID under a key derived from SECRET_KEY, never the session
-- key), so that one browser's sign-out tells exactly those apps; and the
-- sid on each token of a sign-in, so that refreshed ID tokens keep it.

-- +goose Up
CREATE TABLE `oidc_session_clients` (`session_id` text NOT NULL,`client_id` text NOT NULL,`user_id` integer NOT NULL,`sid` text NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`session_id`,`client_id`),CONSTRAINT `fk_oidc_session_clients_session` FOREIGN KEY (`session_id`) REFERENCES `sessions`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_oidc_session_clients_client` FOREIGN KEY (`client_id`) REFERENCES `oidc_clients`(`client_id`) ON DELETE CASCADE,CONSTRAINT `fk_oidc_session_clients_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_oidc_session_clients_client` ON `oidc_session_clients`(`client_id`);
CREATE INDEX `idx_oidc_session_clients_user` ON `oidc_session_clients`(`user_id`);
ALTER TABLE `oidc_tokens` ADD COLUMN `sid` text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE `oidc_tokens` DROP COLUMN `sid`;
DROP TABLE `oidc_session_clients`;
