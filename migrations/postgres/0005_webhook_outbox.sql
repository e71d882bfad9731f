-- API-key events waiting for the webhook receiver (HOOP_WEBHOOK_URL). The trigger queues each
-- one in the transaction that writes its audit event, so an event is queued if and only if it
-- happened, whatever becomes of the process afterwards. A row is deleted once delivered.
CREATE TABLE webhook_outbox (
    event_id        BIGINT PRIMARY KEY REFERENCES audit_events(id),
    enqueued_at     TIMESTAMPTZ NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- The replica delivering the row holds it until then; past it, anyone may take it again.
    lease_until     TIMESTAMPTZ,
    lease_owner     UUID,
    last_error      TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at);
CREATE INDEX webhook_outbox_lease_owner ON webhook_outbox (lease_owner);

-- Due at once (since the epoch): the event's own time is the gateway's clock, which need not
-- be the one deliveries are timed by. Queued at the database's time.
CREATE FUNCTION webhook_outbox_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (event_id, enqueued_at, next_attempt_at)
    VALUES (NEW.id, now(), '1970-01-01T00:00:00+00:00');
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_outbox_queue AFTER INSERT ON audit_events
FOR EACH ROW WHEN (NEW.target_type = 'api_key')
EXECUTE FUNCTION webhook_outbox_queue();
