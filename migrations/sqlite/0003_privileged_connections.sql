-- A connection whose database role has powers over the database server's host (superuser,
-- server files, programs) runs for non-admins only when an admin marked it so on purpose.
ALTER TABLE connections ADD COLUMN privileged INTEGER NOT NULL DEFAULT 0;
