-- Key lifecycle: expiry, rotation with an overlap.
-- When the key stops working; NULL: never. `status` stays 'active' past it: "expired" is read
-- from the time, so every replica refuses the key at the same second without a write.
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
-- After a rotation with an overlap: the old secret, while it may still work.
ALTER TABLE api_keys ADD COLUMN previous_key_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_masked_key TEXT;
ALTER TABLE api_keys ADD COLUMN previous_expires_at TIMESTAMPTZ;
-- The `expires_at` whose api_key.expired (and api_key.expiring) event is written: each expiry
-- is announced once, by whichever replica notices first, and again only if it moves.
ALTER TABLE api_keys ADD COLUMN expired_noted TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN expiring_noted TIMESTAMPTZ;
CREATE UNIQUE INDEX api_keys_previous_key_hash ON api_keys (previous_key_hash);
CREATE INDEX api_keys_expires_at ON api_keys (expires_at) WHERE expires_at IS NOT NULL;
