-- Groups, as Django's auth_group and auth_user_groups: named sets of users
-- for access rules (forward auth) and the OpenID provider's groups claim.

-- +goose Up
CREATE TABLE groups (
    id bigserial PRIMARY KEY,
    name varchar(150) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX idx_groups_name ON groups (name);
CREATE TABLE user_groups (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX idx_user_groups_group ON user_groups (group_id);

-- +goose Down
DROP TABLE user_groups;
DROP TABLE groups;
