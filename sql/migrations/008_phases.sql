-- Migration 008: where a run's time goes (issue "Speed to the hardware").
--
-- Inputs : the runs table of migration 001.
-- Outputs: runs.plan_seconds, read_seconds, compute_seconds, commit_seconds, export_seconds
--          (DOUBLE, NULL for runs recorded before this migration):
--          plan    = recording the run and planning its units (segqtl run, before any work);
--          read    = the parent reading units' inputs from the warehouse and copying genotypes
--                    to scratch (overlaps the workers' compute on more than one core);
--          compute = the workers' time on the units, summed over the workers (worker-seconds,
--                    so it can exceed the wall time on several cores);
--          commit  = writing the units' results and the run-level results (q-values);
--          export  = the drop-in's export of the run's files (NULL when exported separately).
--          A resumed run adds the resumed part's times.
ALTER TABLE runs ADD COLUMN plan_seconds DOUBLE;
ALTER TABLE runs ADD COLUMN read_seconds DOUBLE;
ALTER TABLE runs ADD COLUMN compute_seconds DOUBLE;
ALTER TABLE runs ADD COLUMN commit_seconds DOUBLE;
ALTER TABLE runs ADD COLUMN export_seconds DOUBLE;
