-- signif_phenotypes: a perm run's phenotypes as 'segqtl signif' selects them.
--
-- Inputs (parameters): $perm_run.
-- Reads : qvalue_stats, nominal_stats.
-- Output: one row per phenotype with a q-value: chr, phenotype_idx, p_value (p_adj), qvalue,
--          beta_shape1, beta_shape2 (the fitted Beta of the permutation minima; NULL when not
--          fitted); ordered by chr, phenotype_idx.
SELECT q.chr, q.phenotype_idx, q.p_value, q.qvalue, s.beta_shape1, s.beta_shape2
FROM qvalue_stats AS q
JOIN nominal_stats AS s
  ON s.run_id = q.run_id AND s.chr = q.chr AND s.phenotype_idx = q.phenotype_idx
WHERE q.run_id = $perm_run
ORDER BY q.chr, q.phenotype_idx
