-- run_pvalues: one phenotype-level p-value per phenotype of a best-variant run, for q-values.
--
-- Inputs (parameters): $run_id.
-- Reads : nominal_stats, runs.
-- Output: chr, phenotype_idx, p_value (p_adj for perm runs, nominal_p for nominal runs),
--          beta_shape1, beta_shape2; phenotypes without a p-value are left out.
SELECT s.chr, s.phenotype_idx,
       CASE WHEN u.mode = 'perm' THEN s.p_adj ELSE s.nominal_p END AS p_value,
       s.beta_shape1, s.beta_shape2
FROM nominal_stats AS s
JOIN runs AS u USING (run_id)
WHERE s.run_id = $run_id
  AND (CASE WHEN u.mode = 'perm' THEN s.p_adj ELSE s.nominal_p END) IS NOT NULL
ORDER BY s.chr, s.phenotype_idx
