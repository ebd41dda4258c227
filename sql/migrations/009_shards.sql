-- Migration 009: sharded runs (issue 14: 'segqtl run --shard K/N' and 'segqtl merge').
--
-- Inputs : the runs and run_units tables of migration 001.
-- Outputs: runs.shard_index (K, 1-based) and runs.shard_count (N): set on a shard run, NULL on
--          every other run.  runs.merged_shards: N on a run made by 'segqtl merge' from N shard
--          runs (which shards: run_parameters key 'merge:shards'), NULL otherwise.
-- Statuses: a shard run plans every unit of the run in run_units, but computes only its own;
--          the others keep the unit status 'other-shard' (run_units.status: pending | done |
--          other-shard).  When its own units are done the shard run's status is
--          'shard-completed', not 'completed' (runs.status: running | completed | failed |
--          shard-completed): it holds part of the results and none of the run-level ones
--          (q-values), which 'segqtl merge' computes over the merged run.
-- Shards : unit i (unit_id, 0-based, of U planned units) belongs to shard K = 1 + floor(i * N / U):
--          N contiguous blocks of the plan whose sizes differ by at most one unit.
ALTER TABLE runs ADD COLUMN shard_index INTEGER;
ALTER TABLE runs ADD COLUMN shard_count INTEGER;
ALTER TABLE runs ADD COLUMN merged_shards INTEGER;
