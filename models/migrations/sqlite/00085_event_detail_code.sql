-- Languages (issue 28): an event's detail as a code and parameters, so it is
-- shown in the reader's language (models/eventdetails.go). Rows with no code
-- keep their stored English detail and show it as stored.

-- +goose Up
ALTER TABLE `auth_events` ADD COLUMN `detail_code` text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE `auth_events` DROP COLUMN `detail_code`;
