-- validate_residuals (view): per-sample predictions of validate runs, with names.
--
-- Reads : validate_residuals_stats, validate_runs (view), runs, phenotypes, samples.
-- Output: one row per (run, scored phenotype, validation sample): run_id, run_name, cohort,
--          validation_cohort, chr, phenotype_idx, sample_idx, phenotype, sample_id, y (centred
--          on the validation mean), y_hat, y_hat_base, residual, residual_base, n_obs_used,
--          phenotype_start, phenotype_end (docs/methods.md#validate-outputs).
-- Coordinates: phenotype_idx is the DISCOVERY cohort's row; sample_idx is the 0-based
--          position in the VALIDATION cohort's quantification file (its samples rows).

CREATE OR REPLACE VIEW validate_residuals AS
SELECT r.run_id, x.name AS run_name, u.cohort, u.validation_cohort, r.chr, r.phenotype_idx,
       r.sample_idx, p.gene_id AS phenotype, s.sample_id,
       r.y, r.y_hat, r.y_hat_base, r.residual, r.residual_base, r.n_obs_used,
       p.start AS phenotype_start, p."end" AS phenotype_end
FROM validate_residuals_stats AS r
JOIN validate_runs AS u USING (run_id)
JOIN runs AS x USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN samples AS s ON s.cohort = u.validation_cohort AND s.sample_idx = r.sample_idx;
