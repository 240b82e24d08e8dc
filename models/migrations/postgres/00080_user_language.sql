-- Languages (issue 28): the user's saved interface language ("" = none
-- chosen: Accept-Language decides) and time zone ("" = UTC).

-- +goose Up
ALTER TABLE users ADD COLUMN language varchar(16) NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN time_zone varchar(64) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN time_zone;
ALTER TABLE users DROP COLUMN language;
