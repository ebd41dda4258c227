-- plot_top_nominal: a nominal run's strongest tested associations (segqtl report's table).
--
-- Inputs (parameters): $run_id, $top (rows, >= 0).
-- Reads : nominal_results (view).
-- Output: phenotype, variant, chr, pos, distance, number_of_samples, beta_d, se_d, t_stat_d,
--          nominal_p; the $top tested rows with the smallest nominal_p (ties: phenotype,
--          variant).
-- Coordinates: 1-based positions as written; distance = variant pos - phenotype start.
SELECT phenotype, variant, chr, pos, distance, number_of_samples, beta_d, se_d, t_stat_d,
       nominal_p
FROM nominal_results
WHERE run_id = $run_id AND status = 'tested'
ORDER BY nominal_p, phenotype, variant
LIMIT $top
