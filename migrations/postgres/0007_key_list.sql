-- The key list, one page at a time (src/store/key_list.rs): each sort order reads an index in
-- order and continues after the last key of the page before, id breaking ties. The
-- expressions must be the ones the queries sort by; names sort byte by byte (COLLATE "C"), as
-- on SQLite.
CREATE INDEX api_keys_list_created ON api_keys (org_id, created_at, id);
CREATE INDEX api_keys_list_name ON api_keys (org_id, (lower(name)) COLLATE "C", id);
-- Never used sorts lowest, as on SQLite.
CREATE INDEX api_keys_list_last_used
    ON api_keys (org_id, (COALESCE(last_used_at, '-infinity'::timestamptz)), id);
-- Name search (`lower(name) LIKE '%…%'`): a trigram index answers it without reading every
-- key when pg_trgm can be had (it is a trusted extension: the database owner may create it).
-- Where it cannot, the search reads the keys in order and this migration still succeeds.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX api_keys_name_trgm ON api_keys USING gin (lower(name) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): key name search reads keys in order', SQLERRM;
END
$$;
-- The list page's notice of keys the unused-key policy is about to deactivate: a range of
-- this index (idle longest first), expires_at included so the count never reads the table.
CREATE INDEX api_keys_idle ON api_keys (org_id, status, (COALESCE(last_used_at, created_at)), id, expires_at);
