-- The key list, one page at a time (src/store/key_list.rs): each sort order reads an index in
-- order and continues after the last key of the page before, id breaking ties. The
-- expressions must be the ones the queries sort by.
CREATE INDEX api_keys_list_created ON api_keys (org_id, created_at, id);
CREATE INDEX api_keys_list_name ON api_keys (org_id, lower(name), id);
-- Never used sorts lowest: '' is below every RFC 3339 text.
CREATE INDEX api_keys_list_last_used ON api_keys (org_id, COALESCE(last_used_at, ''), id);
-- The list page's notice of keys the unused-key policy is about to deactivate: a range of
-- this index (idle longest first), expires_at included so the count never reads the table.
CREATE INDEX api_keys_idle ON api_keys (org_id, status, COALESCE(last_used_at, created_at), id, expires_at);
