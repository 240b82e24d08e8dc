-- PostgreSQL's triggers announce changes to the tables hot-path reads cache
-- (models/changes_pg.go). SQLite needs none: its change stamp is the
-- WAL-index header, which every commit moves (models/changes_unix.go). The
-- number exists so both dialects keep the same versions.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
