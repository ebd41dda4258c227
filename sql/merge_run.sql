-- merge_run: record the merged run in the target warehouse from its first shard's run.
--
-- Inputs (template): {shard} = the alias of the attached warehouse of shard 1 (made by segqtl).
-- Inputs (parameters): $run_id (the merged run's new id), $shard_run (shard 1's run id there),
--          $started_at (the earliest start of the shards), $n_shards (N), phase seconds summed
--          over the shards: $plan_seconds, $read_seconds, $compute_seconds, $commit_seconds.
-- Reads : {shard}.runs.
-- Writes: one row of runs, status 'running' (finish_run completes it in the same transaction):
--          the shard's mode, cohort(s), chromosomes, versions and cohort checksum (every shard's
--          are checked equal before), shard_index and shard_count NULL (a whole run),
--          merged_shards = N.  Columns are matched by name.
INSERT INTO runs BY NAME
SELECT * REPLACE (
    $run_id::INTEGER AS run_id,
    'running' AS status,
    $started_at::TIMESTAMP AS started_at,
    NULL::TIMESTAMP AS finished_at,
    NULL::DOUBLE AS seconds,
    NULL::VARCHAR AS error,
    NULL::INTEGER AS shard_index,
    NULL::INTEGER AS shard_count,
    $n_shards::INTEGER AS merged_shards,
    $plan_seconds::DOUBLE AS plan_seconds,
    $read_seconds::DOUBLE AS read_seconds,
    $compute_seconds::DOUBLE AS compute_seconds,
    $commit_seconds::DOUBLE AS commit_seconds,
    NULL::DOUBLE AS export_seconds
)
FROM {shard}.runs
WHERE run_id = $shard_run
