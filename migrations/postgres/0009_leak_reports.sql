-- When a secret of this key was reported leaked; NULL: never, or since rotated away. Making
-- such a key's secret work again needs a rotation or an explicit acceptance: a report of a
-- deactivated or expired key must not be forgotten.
ALTER TABLE api_keys ADD COLUMN leak_reported_at TIMESTAMPTZ;
