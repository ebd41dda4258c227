-- signif_check: does the all-variants run B reproduce perm run A's nominal scan?  For each
-- phenotype of a signif request, A's lead pair against B's row for the same variant.
--
-- Inputs (parameters): $signif_id.
-- Reads : signif_requests, signif_thresholds, nominal_stats, phenotypes, variants, runs.
-- Output: the request's phenotypes whose lead pair differs: phenotype (gene_id), variant (A's
--          lead variant ID), n_a, n_b (number_of_samples; n_b NULL when B has no tested row
--          for the pair), p_a, p_b (nominal_p); ordered by chr, phenotype_idx.  Empty when B's
--          p-values are A's.  "Differs": another sample count, or |p_b - p_a| > 1e-9 p_a (the
--          same scan on the same samples gives the same p-value).
SELECT p.gene_id AS phenotype, v.variant_id AS variant,
       a.number_of_samples AS n_a, b.number_of_samples AS n_b,
       a.nominal_p AS p_a, b.nominal_p AS p_b
FROM signif_requests AS s
JOIN signif_thresholds AS t USING (signif_id)
JOIN nominal_stats AS a
  ON a.run_id = s.perm_run AND a.chr = t.chr AND a.phenotype_idx = t.phenotype_idx
LEFT JOIN nominal_stats AS b
  ON b.run_id = s.nominal_run AND b.chr = t.chr AND b.phenotype_idx = t.phenotype_idx
 AND b.variant_idx = a.variant_idx AND b.status = 0
JOIN runs AS u ON u.run_id = s.perm_run
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = t.chr AND p.phenotype_idx = t.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = a.variant_chr AND v.variant_idx = a.variant_idx
WHERE s.signif_id = $signif_id
  AND (b.run_id IS NULL OR b.number_of_samples <> a.number_of_samples
       OR abs(b.nominal_p - a.nominal_p) > 1e-9 * a.nominal_p
       OR (b.nominal_p IS NULL) <> (a.nominal_p IS NULL))
ORDER BY t.chr, t.phenotype_idx
