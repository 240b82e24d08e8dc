-- Back-channel logout (OpenID Connect Back-Channel Logout 1.0, issue 26):
-- where a client wants to hear that its users' sign-ins ended.

-- +goose Up
ALTER TABLE `oidc_clients` ADD COLUMN `backchannel_logout_uri` text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE `oidc_clients` DROP COLUMN `backchannel_logout_uri`;
