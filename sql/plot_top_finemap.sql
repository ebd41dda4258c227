-- plot_top_finemap: a finemap run's most stable variants (segqtl report's table).
--
-- Inputs (parameters): $run_id, $top (rows, >= 0).
-- Reads : finemap_results (view).
-- Output: phenotype, variant, chr, pos, distance, n_samples, stability_score, sign_consistency,
--          beta_full, mean_beta, lambda_selected; the $top tested variant rows with the largest
--          stability_score (ties: largest |beta_full|, phenotype, variant).
-- Coordinates: 1-based positions as written; distance = variant pos - phenotype start.
SELECT phenotype, variant, chr, pos, distance, n_samples, stability_score, sign_consistency,
       beta_full, mean_beta, lambda_selected
FROM finemap_results
WHERE run_id = $run_id AND status = 'tested' AND variant IS NOT NULL
ORDER BY stability_score DESC, abs(beta_full) DESC, phenotype, variant
LIMIT $top
