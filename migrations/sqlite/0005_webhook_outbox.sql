-- API-key events waiting for the webhook receiver (HOOP_WEBHOOK_URL). The trigger queues each
-- one in the transaction that writes its audit event, so an event is queued if and only if it
-- happened, whatever becomes of the process afterwards. A row is deleted once delivered.
CREATE TABLE webhook_outbox (
    event_id        INTEGER PRIMARY KEY REFERENCES audit_events(id),
    enqueued_at     TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- The gateway delivering the row holds it until then; past it, anyone may take it again.
    lease_until     TEXT,
    lease_owner     BLOB,
    last_error      TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at);
CREATE INDEX webhook_outbox_lease_owner ON webhook_outbox (lease_owner);

-- Due at once (since the epoch): the event's own time is the gateway's clock, which need not
-- be the one deliveries are timed by. Queued at the database's time, in the form sqlx writes
-- timestamps (RFC 3339, milliseconds, +00:00), so that it compares with the gateway's.
CREATE TRIGGER webhook_outbox_queue AFTER INSERT ON audit_events
WHEN NEW.target_type = 'api_key'
BEGIN
    INSERT INTO webhook_outbox (event_id, enqueued_at, next_attempt_at)
    VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '1970-01-01T00:00:00+00:00');
END;
