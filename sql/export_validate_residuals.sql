-- export_validate_residuals: one chromosome of a validate run as SegmentQTL's
-- validate_residuals_<C>.csv (docs/methods.md#validate-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : validate_residuals (view).
-- Output: phenotype, sample_id (validation cohort), y (centred on the validation mean), y_hat,
--          y_hat_base, residual, residual_base, n_obs_used, chr; one row per (scored phenotype,
--          validation sample) in phenotype order, then the validation quantification file's
--          sample order.  The header is always the full one (SegmentQTL drops y_hat_base and
--          residual_base when nothing was scored, a defect fixed here, docs/methods.md#differences).
SELECT phenotype, sample_id, y, y_hat, y_hat_base, residual, residual_base, n_obs_used, chr
FROM validate_residuals
WHERE run_id = $run_id AND chr = $chr
ORDER BY phenotype_idx, sample_idx
