CREATE TABLE connections (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('postgres', 'sqlite')),
    -- A database URL or file path; may hold a password. Only admins ever see it.
    target      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE connection_groups (
    connection_id  BLOB NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    org_id         BLOB NOT NULL,
    group_name     TEXT NOT NULL,
    PRIMARY KEY (connection_id, group_name),
    FOREIGN KEY (org_id, group_name) REFERENCES groups(org_id, name)
);

-- One row per exec: who ran what where, how it went. Not the output: that stays with the caller.
CREATE TABLE sessions (
    id                BLOB PRIMARY KEY,
    org_id            BLOB NOT NULL REFERENCES orgs(id),
    actor             TEXT NOT NULL,
    actor_id          TEXT NOT NULL,
    auth_method       TEXT NOT NULL,
    connection        TEXT NOT NULL,
    script            TEXT NOT NULL,
    status            TEXT NOT NULL,
    exit_code         INTEGER NOT NULL,
    execution_time_ms INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX sessions_org_created ON sessions (org_id, created_at DESC);
