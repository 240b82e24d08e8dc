-- The outbox (issue 23): who holds a claim (so a worker checks it still
-- holds it, and a restarted instance takes its own leases back at once),
-- and messages dropped with a reason (recipient deleted or readdressed).

-- +goose Up
ALTER TABLE outbox_messages ADD COLUMN claimed_by varchar(64) NOT NULL DEFAULT '';
ALTER TABLE outbox_messages ADD COLUMN dropped_at timestamptz;
CREATE INDEX idx_outbox_messages_failed_at ON outbox_messages (failed_at);

-- +goose Down
DROP INDEX idx_outbox_messages_failed_at;
ALTER TABLE outbox_messages DROP COLUMN dropped_at;
ALTER TABLE outbox_messages DROP COLUMN claimed_by;
