-- export_interaction: one chromosome of an interaction run as CSV rows
-- (docs/methods.md#interaction-model).
--
-- Inputs (parameters): $run_id, $chr, $first_phenotype, $last_phenotype (the phenotype_idx
--          range written by this statement).
-- Reads : interaction_results (view).
-- Output: phenotype, variant, number_of_samples, beta_s, se_s, pval_s, beta_d, se_d, pval_d,
--          beta_i, se_i, pval_i, beta_di, se_di, pval_di, beta_si, se_si, pval_si, status,
--          chr; ordered by phenotype order (quantification file) then variant order.
--          Missing statistics are NULL (empty cells).
SELECT phenotype, variant, number_of_samples, beta_s, se_s, pval_s, beta_d, se_d, pval_d,
       beta_i, se_i, pval_i, beta_di, se_di, pval_di, beta_si, se_si, pval_si, status, chr
FROM interaction_results
WHERE run_id = $run_id AND chr = $chr
  AND phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
ORDER BY phenotype_idx, variant_idx NULLS FIRST
