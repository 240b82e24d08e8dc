-- Groups, as Django's auth_group and auth_user_groups: named sets of users
-- for access rules (forward auth) and the OpenID provider's groups claim.

-- +goose Up
CREATE TABLE `groups` (`id` integer PRIMARY KEY AUTOINCREMENT,`name` text NOT NULL,`created_at` datetime NOT NULL);
CREATE UNIQUE INDEX `idx_groups_name` ON `groups`(`name`);
CREATE TABLE `user_groups` (`user_id` integer NOT NULL,`group_id` integer NOT NULL,PRIMARY KEY (`user_id`,`group_id`),CONSTRAINT `fk_user_groups_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_user_groups_group` FOREIGN KEY (`group_id`) REFERENCES `groups`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_user_groups_group` ON `user_groups`(`group_id`);

-- +goose Down
DROP TABLE `user_groups`;
DROP TABLE `groups`;
