-- Identities at other sign-in providers connected to accounts (issue 27,
-- django-allauth's socialaccount), and the sign-ins through them in
-- progress (state hash, browser binding hash, the claims awaiting the
-- short sign-up form).

-- +goose Up
CREATE TABLE `social_identities` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` integer NOT NULL,`provider` text NOT NULL,`subject` text NOT NULL,`email` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL,`last_used_at` datetime NOT NULL,CONSTRAINT `fk_social_identities_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE UNIQUE INDEX `idx_social_identities_provider_subject` ON `social_identities`(`provider`,`subject`);
CREATE INDEX `idx_social_identities_user_id` ON `social_identities`(`user_id`);
CREATE TABLE `social_flows` (`id` text PRIMARY KEY,`binding` text NOT NULL,`provider` text NOT NULL,`purpose` text NOT NULL,`user_id` integer,`next` text NOT NULL DEFAULT '',`stage` text NOT NULL,`subject` text NOT NULL DEFAULT '',`email` text NOT NULL DEFAULT '',`email_verified` numeric NOT NULL DEFAULT false,`username` text NOT NULL DEFAULT '',`created_at` datetime NOT NULL,`expires_at` datetime NOT NULL,CONSTRAINT `fk_social_flows_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_social_flows_binding` ON `social_flows`(`binding`);
CREATE INDEX `idx_social_flows_user_id` ON `social_flows`(`user_id`);
CREATE INDEX `idx_social_flows_expires_at` ON `social_flows`(`expires_at`);

-- +goose Down
DROP TABLE `social_flows`;
DROP TABLE `social_identities`;
