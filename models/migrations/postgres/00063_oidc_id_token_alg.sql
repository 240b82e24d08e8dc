-- ES256 ID tokens (issue 26): the algorithm a client asked its ID tokens
-- to be signed with (id_token_signed_response_alg); '' is RS256. The ES256
-- signing keys are rows of oidc_keys like the RS256 ones (algorithm ES256).

-- +goose Up
ALTER TABLE oidc_clients ADD COLUMN id_token_signed_response_alg varchar(16) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oidc_clients DROP COLUMN id_token_signed_response_alg;
