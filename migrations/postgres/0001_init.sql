CREATE TABLE orgs (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES orgs(id),
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE groups (
    org_id      UUID NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE user_groups (
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id      UUID NOT NULL,
    group_name  TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name),
    FOREIGN KEY (org_id, group_name) REFERENCES groups(org_id, name)
);

CREATE TABLE user_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES orgs(id),
    name            TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    masked_key      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    deactivated_by  TEXT,
    deactivated_at  TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    -- Bumped on every change, so caches can order invalidations.
    version         BIGINT NOT NULL DEFAULT 1,
    UNIQUE (org_id, name)
);

CREATE TABLE api_key_groups (
    api_key_id  UUID NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    org_id      UUID NOT NULL,
    group_name  TEXT NOT NULL,
    PRIMARY KEY (api_key_id, group_name),
    FOREIGN KEY (org_id, group_name) REFERENCES groups(org_id, name)
);

CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES orgs(id),
    occurred_at  TIMESTAMPTZ NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    target_name  TEXT NOT NULL,
    details      TEXT NOT NULL
);
CREATE INDEX audit_events_org_id ON audit_events (org_id, id DESC);
