-- genotypes (view): every cohort's dosages, one row per (cohort, variant).
--
-- Reads : cohorts (to list the cohorts), each cohort's genotypes_<cohort_id> table.
-- Output: cohort, chr, variant_idx, variant_id, pos, altlr DOUBLE[], reflr DOUBLE[] - the
--          ALTlr/REFlr dosages in the cohort's sample order (samples.sample_idx; arrays are
--          1-based in SQL), NULL = missing (docs/methods.md#inputs).  Each cohort's table stores
--          them as fixed-size DOUBLE[n] arrays (read several times faster); the view casts them
--          to DOUBLE[] so that cohorts of different sizes union.
-- Coordinates: pos is 1-based as written in the genotype files; variant_idx is the 0-based row
--          in the chromosome's genotype files.
-- A template, not a fixed statement: segqtl/warehouse/db.py (refresh_genotypes_view) puts one
-- SELECT per cohort (generated from cohorts.cohort_id, never from user text) in place of the
-- selects placeholder below, at every ingest and whenever the views are (re)applied; with no
-- cohort the view is empty, with the same columns.

CREATE OR REPLACE VIEW genotypes AS
{selects}
