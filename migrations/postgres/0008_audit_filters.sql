-- The audit log and the exec history, filtered (GET /api/audit, GET /api/sessions, the web
-- app's pages): one index per filter, each ending in the page order so a filtered page reads
-- only its own rows, however long the log.
CREATE INDEX audit_events_actor ON audit_events (org_id, actor, id DESC);
CREATE INDEX audit_events_action ON audit_events (org_id, action, id DESC);
CREATE INDEX audit_events_target_id ON audit_events (org_id, target_id, id DESC);
CREATE INDEX audit_events_target_name ON audit_events (org_id, target_name, id DESC);
CREATE INDEX sessions_actor_name ON sessions (org_id, actor, created_at DESC);
CREATE INDEX sessions_connection ON sessions (org_id, connection, created_at DESC);
