-- Indexes FerretDB 1.24 cannot make, for its PostgreSQL engine. Applied to the `ferretdb` database
-- each time the stack starts PostgreSQL (idempotent), before FerretDB.
--
-- FerretDB sends an equality filter on a top-level field to SQL as containment,
-- `_jsonb->'companyId' @> '"…"'`, and makes every index of `createIndex` a btree on
-- `(_jsonb->'field')`, which containment cannot use: each such query scanned every document of
-- the collection, every company's (a fleet of 1,000 companies of 1,000 read a million rows per
-- company read and per conditioned update). A GIN index on the field serves containment; the
-- parameters FerretDB binds are planned as the values they are, so PostgreSQL matches the index.
--
-- Every collection table gets one on `_id` and one on `companyId` (absent from a document: not in
-- the index), as it is created (an event trigger) and, for tables made before, here. FerretDB
-- knows nothing of them: `listIndexes` does not show them, dropping the collection drops them.
--
-- Without GIN's pending list (`fastupdate = off`): with it, rows inserted since the last vacuum
-- sit in an unsorted list that every lookup reads whole, so right after a company's 100,000
-- profiles were inserted each update finding its profile by `_id` took 8-18 ms instead of
-- 1.4-1.9 ms, until autovacuum came by. Measured through FerretDB on 100,000 profiles: the insert
-- took as long (8.9-9.9 s without the list, 9.2-9.5 s with it). An index made before with the
-- list is altered at the next start (its list is emptied by the next vacuum).

CREATE OR REPLACE FUNCTION lucca_sync_containment_indexes(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  schema_name text;
  table_name text;
  field text;
  index_name text;
  options text[];
BEGIN
  SELECT n.nspname, c.relname INTO schema_name, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = tbl AND c.relkind = 'r';
  -- FerretDB's collections: a `_jsonb` column, in a schema of their database; not its own metadata.
  IF table_name IS NULL OR table_name LIKE '\_ferretdb\_%'
     OR schema_name IN ('public', 'information_schema') OR schema_name LIKE 'pg\_%'
     OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = '_jsonb' AND NOT attisdropped) THEN
    RETURN;
  END IF;
  FOREACH field IN ARRAY ARRAY['_id', 'companyId'] LOOP
    index_name := 'lucca_sync_' || left(md5(table_name || '.' || field), 24);
    -- Looked up first: CREATE INDEX IF NOT EXISTS would lock the table before finding it there.
    SELECT c.reloptions INTO options FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = schema_name AND c.relname = index_name;
    IF NOT FOUND THEN
      EXECUTE format('CREATE INDEX %I ON %I.%I USING gin ((_jsonb -> %L) jsonb_path_ops) WITH (fastupdate = off)',
        index_name, schema_name, table_name, field);
    ELSIF options IS NULL OR NOT ('fastupdate=off' = ANY (options)) THEN
      -- Made before by this file with a pending list: new entries go straight to the tree from now on.
      EXECUTE format('ALTER INDEX %I.%I SET (fastupdate = off)', schema_name, index_name);
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION lucca_sync_on_create_table() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  created record;
BEGIN
  FOR created IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
    PERFORM lucca_sync_containment_indexes(created.objid::regclass);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS lucca_sync_containment_indexes;
CREATE EVENT TRIGGER lucca_sync_containment_indexes ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION lucca_sync_on_create_table();

DO $$
DECLARE
  existing record;
BEGIN
  FOR existing IN SELECT c.oid FROM pg_class c WHERE c.relkind = 'r' LOOP
    PERFORM lucca_sync_containment_indexes(existing.oid::regclass);
  END LOOP;
END $$;
