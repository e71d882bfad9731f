-- How each key is used: where from, by what, how much. Written by each replica's usage flush
-- (one write per key and interval, never one per request).
ALTER TABLE api_keys ADD COLUMN last_used_ip TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_user_agent TEXT;

-- Requests per key and UTC day (`YYYY-MM-DD`). Each replica adds its own increments, so counts add up.
CREATE TABLE api_key_usage (
    api_key_id  BLOB NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    -- Presented while deactivated or expired (or an old secret past its overlap).
    refused     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_id, day)
);

-- The addresses a key was used from, each with its latest user agent. Rows unseen for 30 days
-- are pruned: the next use from there is a new client again.
CREATE TABLE api_key_clients (
    api_key_id    BLOB NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    ip            TEXT NOT NULL,
    user_agent    TEXT,
    last_seen_at  TEXT NOT NULL,
    PRIMARY KEY (api_key_id, ip)
);
CREATE INDEX api_key_clients_last_seen ON api_key_clients (last_seen_at);

-- A key's execs per day are counted from its sessions.
CREATE INDEX sessions_actor ON sessions (org_id, actor_id, created_at);
