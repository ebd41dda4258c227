-- run_progress (view): how far each run has got, counted in phenotypes, with rate and ETA.
--
-- Reads : runs, run_units.
-- Output: one row per run: run_id, status, started_at, finished_at, units_done, n_units,
--          phenotypes_done (the committed units' phenotypes), phenotypes_total (committed
--          units' count plus the pending units' ranges; a shard run's units of the other
--          shards are not counted), rate (phenotypes per second of the
--          run's own wall time), eta_seconds (the pending phenotypes at that rate; 0 once
--          every unit is committed, NULL before the first commit), last_commit_at.
-- Notes : the rate divides by the summed wall time the parent attributes to the committed
--          units (run_units.seconds: the time between one commit and the next), not by the
--          time since started_at, so a resumed run's pause is not counted.  A run killed
--          without a chance to record it keeps status 'running'; its last_commit_at stops
--          moving.  Readers see committed units only (docs/concurrency.md).

CREATE OR REPLACE VIEW run_progress AS
SELECT r.run_id, r.status, r.started_at, r.finished_at,
       coalesce(u.units_done, 0) AS units_done, r.n_units,
       coalesce(u.phenotypes_done, 0) AS phenotypes_done,
       coalesce(u.phenotypes_total, 0) AS phenotypes_total,
       u.phenotypes_done / nullif(u.seconds_done, 0) AS rate,
       CASE WHEN u.phenotypes_total = u.phenotypes_done THEN 0.0
            ELSE (u.phenotypes_total - u.phenotypes_done)
                 / nullif(u.phenotypes_done / nullif(u.seconds_done, 0), 0)
       END AS eta_seconds,
       u.last_commit_at
FROM runs AS r
LEFT JOIN (
    SELECT run_id,
           count(*) FILTER (status = 'done') AS units_done,
           coalesce(sum(n_phenotypes) FILTER (status = 'done'), 0)::BIGINT AS phenotypes_done,
           sum(CASE WHEN status = 'done' THEN n_phenotypes
                    WHEN status = 'pending' THEN last_phenotype_idx - first_phenotype_idx + 1
                    ELSE 0 END)::BIGINT
               AS phenotypes_total,
           sum(seconds) FILTER (status = 'done') AS seconds_done,
           max(finished_at) AS last_commit_at
    FROM run_units
    GROUP BY run_id
) AS u USING (run_id);
