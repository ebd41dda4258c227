-- plot_top_perm: a perm run's phenotypes by permutation-adjusted p (segqtl report's table).
--
-- Inputs (parameters): $run_id, $top (rows, >= 0).
-- Reads : perm_results (view), qvalues (view).
-- Output: phenotype, variant (the lead), chr, pos, distance, number_of_samples, beta_d,
--          nominal_p, p_adj, qvalue, is_hit (NULL without q-values); the $top tested rows with
--          the smallest p_adj (ties: nominal_p, phenotype).
-- Coordinates: 1-based positions as written; distance = variant pos - phenotype start.
SELECT r.phenotype, r.variant, r.chr, r.pos, r.distance, r.number_of_samples, r.beta_d,
       r.nominal_p, r.p_adj, q.qvalue, q.is_hit
FROM perm_results AS r
LEFT JOIN qvalues AS q
  ON q.run_id = r.run_id AND q.chr = r.chr AND q.phenotype_idx = r.phenotype_idx
WHERE r.run_id = $run_id AND r.status = 'tested'
ORDER BY r.p_adj, r.nominal_p, r.phenotype
LIMIT $top
