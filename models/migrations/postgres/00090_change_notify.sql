-- Hot-path reads are cached until the database changes (internal/readcache,
-- models/changes_pg.go). This instance's own commits retire the cache as
-- they return; another instance's (or any other session's) are announced by
-- these triggers: each statement that changes a table a cached read reads
-- notifies the gatehouse_changes channel, which every instance LISTENs to.
-- Statement-level, so a statement costs one notification however many rows
-- it changes, and PostgreSQL folds a transaction's repeats into one. The
-- tables are models.notifiedTables; a cached read of another table needs
-- its trigger here first (TestNotifiedTablesHaveTriggers). High-write
-- tables nobody caches (throttle counters, events, the outbox) have none.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION gatehouse_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('gatehouse_changes', '');
	RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER gatehouse_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changes();
CREATE TRIGGER gatehouse_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changes();
CREATE TRIGGER gatehouse_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changes();
CREATE TRIGGER gatehouse_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_groups
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changes();
CREATE TRIGGER gatehouse_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON oidc_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changes();

-- +goose Down
DROP TRIGGER gatehouse_changes ON oidc_tokens;
DROP TRIGGER gatehouse_changes ON user_groups;
DROP TRIGGER gatehouse_changes ON groups;
DROP TRIGGER gatehouse_changes ON users;
DROP TRIGGER gatehouse_changes ON sessions;
DROP FUNCTION gatehouse_notify_changes();
