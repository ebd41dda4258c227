-- Migration 007: views get one home, sql/views/ (issue "one place per mode").
--
-- Inputs : the schema of migrations 001-006.
-- Outputs: table schema_views: the view definitions the warehouse last applied, one row per
--          file sql/views/<name>.sql (name, sha256 of the file's text, applied_at).
-- From this migration on, no migration creates or replaces a view.  Each view's live definition
-- is the one file sql/views/<name>.sql; segqtl/warehouse/db.py (apply_views) re-creates every
-- view from those files, in dependency order, after the pending migrations, whenever a migration
-- ran or the files differ from schema_views (then rewrites schema_views), in one transaction.
-- The views made by migrations 001-006 are replaced by that step with the same definitions
-- (genotypes: sql/views/genotypes.sql, formerly sql/genotypes_view.sql).  A later migration may
-- drop a view (with its file) but must read tables, not views: views are re-applied only after
-- the last migration.

CREATE TABLE schema_views (
    name       VARCHAR PRIMARY KEY,   -- the view, = the file's stem
    sha256     VARCHAR NOT NULL,      -- of the file's text as applied
    applied_at TIMESTAMP NOT NULL
);
