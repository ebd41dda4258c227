-- merge_shard_run: the shard run a shard warehouse brings to 'segqtl merge'.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias (made by segqtl, never user
--          text).  No parameters.
-- Reads : {shard}.runs (shard_index, shard_count: sql/migrations/009_shards.sql).
-- Output: at most one row: the warehouse's latest shard run (highest run_id with shard_count
--          set) with run_id, mode, cohort, status, shard_index (K, 1-based), shard_count (N),
--          cohort_checksum, segqtl_version, duckdb_version, numpy_version, n_units, started_at
--          and the phase seconds plan_seconds, read_seconds, compute_seconds, commit_seconds.
--          A shard recomputed in the same file after a failure is the latest; an earlier one is
--          ignored.
SELECT run_id, mode, cohort, status, shard_index, shard_count, cohort_checksum,
       segqtl_version, duckdb_version, numpy_version, n_units, started_at,
       plan_seconds, read_seconds, compute_seconds, commit_seconds
FROM {shard}.runs
WHERE shard_count IS NOT NULL
ORDER BY run_id DESC
LIMIT 1
