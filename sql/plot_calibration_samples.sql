-- plot_calibration_samples: observed against predicted phenotype of one phenotype of a
-- validate run, per validation sample (segqtl plot calibration, right panel).
--
-- Inputs (parameters): $run_id (a validate run), $phenotype (gene_id).
-- Reads : validate_residuals (view).
-- Output: sample_id, y (observed, centred on the validation mean), y_hat (predicted); rows
--          with both values, in the validation cohort's sample order.
SELECT sample_id, y, y_hat
FROM validate_residuals
WHERE run_id = $run_id AND phenotype = $phenotype AND y IS NOT NULL AND y_hat IS NOT NULL
ORDER BY sample_idx
