-- merge_rows: copy one shard's result rows of one table into the merged run.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias; {table} = a result table of
--          the run's mode (Mode.tables: nominal_stats, finemap_stats, ...) or
--          run_pair_exclusions (never user text).
-- Inputs (parameters): $run_id (the merged run), $shard_run (the shard's run id there).
-- Reads : {shard}.{table}, {shard}.run_units.
-- Writes: {table} rows of the merged run: every row of the shard's own units (status 'done'),
--          columns matched by name, values unchanged (run_id replaced).  Coordinates are
--          copied as they are: chr, phenotype_idx and variant_idx are rows of the same cohort
--          (equal input checksums, checked before).
INSERT INTO {table} BY NAME
SELECT r.* REPLACE ($run_id::INTEGER AS run_id)
FROM {shard}.{table} AS r
WHERE r.run_id = $shard_run
  AND r.unit_id IN (
      SELECT unit_id FROM {shard}.run_units WHERE run_id = $shard_run AND status = 'done'
  )
