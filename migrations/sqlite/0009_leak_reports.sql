-- When a secret of this key was reported leaked (RFC 3339 UTC text, as in 0001); NULL: never,
-- or since rotated away. Making such a key's secret work again needs a rotation or an explicit
-- acceptance: a report of a deactivated or expired key must not be forgotten.
ALTER TABLE api_keys ADD COLUMN leak_reported_at TEXT;
