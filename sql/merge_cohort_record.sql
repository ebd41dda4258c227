-- merge_cohort_record: the cohorts row of a cohort copied from a shard warehouse.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias (made by segqtl).
-- Inputs (parameters): $cohort (its name), $cohort_id (its new id in the target warehouse,
--          from cohort_id_seq; names its genotype table genotypes_<cohort_id>).
-- Reads : {shard}.cohorts.
-- Writes: one cohorts row: the shard's record (sizes, checksum, ingest version and time) with
--          the target's cohort_id.
INSERT INTO cohorts BY NAME
SELECT * REPLACE ($cohort_id::INTEGER AS cohort_id)
FROM {shard}.cohorts WHERE cohort = $cohort
