-- Languages (issue 28): the user's saved interface language ("" = none
-- chosen: Accept-Language decides) and time zone ("" = UTC).

-- +goose Up
ALTER TABLE `users` ADD COLUMN `language` text NOT NULL DEFAULT '';
ALTER TABLE `users` ADD COLUMN `time_zone` text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE `users` DROP COLUMN `time_zone`;
ALTER TABLE `users` DROP COLUMN `language`;
