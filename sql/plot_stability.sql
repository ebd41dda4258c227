-- plot_stability: a finemap run's coverage-kept variants with their stability-selection
-- frequency and coefficients (segqtl plot stability).
--
-- Inputs (parameters): $run_id (a finemap run), $phenotype (gene_id, or NULL for every one).
-- Reads : finemap_results (view).
-- Output: chr, phenotype, variant, pos, stability_score (fraction of subsamples selecting the
--          variant), beta_full (full-data coefficient), mean_beta, sign_consistency; rows with
--          status 'tested' and a variant, ordered by chr, phenotype, pos.
-- Coordinates: 1-based positions as written in the input files.
SELECT chr, phenotype, variant, pos, stability_score, beta_full, mean_beta, sign_consistency
FROM finemap_results
WHERE run_id = $run_id AND status = 'tested' AND variant IS NOT NULL
  AND ($phenotype IS NULL OR phenotype = $phenotype)
ORDER BY chr, phenotype, pos
