-- export_nominal: one chromosome of a nominal run in SegmentQTL's column order (docs/methods.md#nominal-model).
--
-- Inputs (parameters): $run_id, $chr, $first_phenotype, $last_phenotype (the phenotype_idx
--          range written by this statement: a file is written a stretch of units at a time).
-- Reads : nominal_results (view).
-- Output: phenotype, variant, number_of_samples, beta_s, se_s, beta_d, se_d, t_stat_d,
--          nominal_p, r2_alt, aic_null, aic_alt, delta_aic_alt_minus_null, p_adj, chr
--          (the caller drops the AIC columns when the run did not record them);
--          ordered by phenotype order (quantification file) then variant order (genotype file).
--          Missing statistics are NULL (written as empty cells).
SELECT phenotype, variant, number_of_samples, beta_s, se_s, beta_d, se_d, t_stat_d,
       nominal_p, r2_alt,
       aic_null, aic_alt, delta_aic_alt_minus_null,
       p_adj, chr
FROM nominal_results
WHERE run_id = $run_id AND chr = $chr
  AND phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
ORDER BY phenotype_idx, variant_idx NULLS FIRST
