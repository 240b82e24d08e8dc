-- Look-alike usernames: each user's TR39 skeletons (models.UsernameSkeletons),
-- one row each; the primary key keeps them unique across accounts. Filled for
-- existing accounts by migration 00004 (Go).

-- +goose Up
CREATE TABLE `user_skeletons` (`skeleton` text NOT NULL,`user_id` integer NOT NULL,PRIMARY KEY (`skeleton`),CONSTRAINT `fk_user_skeletons_user` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE);
CREATE INDEX `idx_user_skeletons_user_id` ON `user_skeletons`(`user_id`);

-- +goose Down
DROP TABLE `user_skeletons`;
