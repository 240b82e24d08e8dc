-- OpenID Connect provider (issue 26): registered clients, pending
-- authorization requests (with the hash of the code they issued), the
-- access and refresh tokens of each grant (refresh tokens hashed; a grant
-- is one code exchange, its ID the authorization request's, so reuse of a
-- code or a spent refresh token revokes the whole family), what each user
-- let each app see, and the signing keys (private halves sealed under a key
-- derived from SECRET_KEY).

-- +goose Up
CREATE TABLE `oidc_clients` (`id` integer PRIMARY KEY AUTOINCREMENT,`client_id` text NOT NULL,`name` text NOT NULL,`secret_hash` text NOT NULL DEFAULT '',`redirect_uris` text NOT NULL DEFAULT '',`post_logout_redirect_uris` text NOT NULL DEFAULT '',`public` numeric NOT NULL DEFAULT false,`skip_consent` numeric NOT NULL DEFAULT false,`allowed_groups` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL);
CREATE UNIQUE INDEX `idx_oidc_clients_client_id` ON `oidc_clients`(`client_id`);
CREATE TABLE `oidc_auth_requests` (`id` text PRIMARY KEY,`client_id` text NOT NULL,`redirect_uri` text NOT NULL,`scopes` text NOT NULL DEFAULT '',`state` text NOT NULL DEFAULT '',`nonce` text NOT NULL DEFAULT '',`response_mode` text NOT NULL DEFAULT '',`code_challenge` text NOT NULL DEFAULT '',`code_challenge_method` text NOT NULL DEFAULT '',`prompt` text NOT NULL DEFAULT '',`max_age` integer,`user_id` integer,`session_id` text NOT NULL DEFAULT '',`auth_time` datetime,`amr` text NOT NULL DEFAULT '',`done` numeric NOT NULL DEFAULT false,`code_hash` text,`code_used_at` datetime,`created_at` datetime NOT NULL,`expires_at` datetime NOT NULL,CONSTRAINT `fk_oidc_auth_requests_client` FOREIGN KEY (`client_id`) REFERENCES `oidc_clients`(`client_id`) ON DELETE CASCADE,CONSTRAINT `fk_oidc_auth_requests_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE UNIQUE INDEX `idx_oidc_auth_requests_code` ON `oidc_auth_requests`(`code_hash`);
CREATE INDEX `idx_oidc_auth_requests_expires` ON `oidc_auth_requests`(`expires_at`);
CREATE TABLE `oidc_tokens` (`id` text PRIMARY KEY,`kind` text NOT NULL,`token_hash` text,`grant_id` text NOT NULL,`user_id` integer NOT NULL,`client_id` text NOT NULL,`scopes` text NOT NULL DEFAULT '',`auth_time` datetime NOT NULL,`amr` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`used_at` datetime,`revoked_at` datetime,CONSTRAINT `fk_oidc_tokens_client` FOREIGN KEY (`client_id`) REFERENCES `oidc_clients`(`client_id`) ON DELETE CASCADE,CONSTRAINT `fk_oidc_tokens_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE UNIQUE INDEX `idx_oidc_tokens_hash` ON `oidc_tokens`(`token_hash`);
CREATE INDEX `idx_oidc_tokens_grant` ON `oidc_tokens`(`grant_id`);
CREATE INDEX `idx_oidc_tokens_user_client` ON `oidc_tokens`(`user_id`,`client_id`);
CREATE INDEX `idx_oidc_tokens_expires` ON `oidc_tokens`(`expires_at`);
CREATE TABLE `oidc_grants` (`user_id` integer NOT NULL,`client_id` text NOT NULL,`scopes` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL,`last_used_at` datetime NOT NULL,PRIMARY KEY (`user_id`,`client_id`),CONSTRAINT `fk_oidc_grants_client` FOREIGN KEY (`client_id`) REFERENCES `oidc_clients`(`client_id`) ON DELETE CASCADE,CONSTRAINT `fk_oidc_grants_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE TABLE `oidc_keys` (`id` text PRIMARY KEY,`algorithm` text NOT NULL,`public_key` text NOT NULL,`private_key` text NOT NULL,`created_at` datetime NOT NULL,`retired_at` datetime);

-- +goose Down
DROP TABLE `oidc_keys`;
DROP TABLE `oidc_grants`;
DROP TABLE `oidc_tokens`;
DROP TABLE `oidc_auth_requests`;
DROP TABLE `oidc_clients`;
