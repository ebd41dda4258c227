-- merge_units: copy the work units one shard computed into the merged run.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias (made by segqtl).
-- Inputs (parameters): $run_id (the merged run), $shard_run (the shard's run id there).
-- Reads : {shard}.run_units.
-- Writes: run_units rows of the merged run: the shard's units with status 'done' (its own; the
--          other shards' units, status 'other-shard', come from their own warehouses), with
--          their unit_id, chr, phenotype_idx range, counts, seconds and finish time unchanged.
--          unit_id numbers the whole run's plan, identical in every shard (checked before).
INSERT INTO run_units BY NAME
SELECT * REPLACE ($run_id::INTEGER AS run_id)
FROM {shard}.run_units
WHERE run_id = $shard_run AND status = 'done'
