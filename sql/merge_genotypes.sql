-- merge_genotypes: a copied cohort's genotype table, from a shard warehouse.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias; {source} = the cohort's
--          genotype table there and {target} = its new one here (genotypes_<cohort_id>: names
--          made from integer ids, never user text).  No parameters.
-- Reads : {shard}.{source}.
-- Writes: table {target} with the same columns and types (chr, variant_idx, variant_id, pos,
--          altlr DOUBLE[n], reflr DOUBLE[n]; n = the cohort's samples), rows sorted by chr and
--          variant_idx as ingest writes them.  variant_idx is the 0-based row in the genotype
--          files; positions are 1-based as written.
CREATE TABLE {target} AS
SELECT * FROM {shard}.{source} ORDER BY chr, variant_idx
