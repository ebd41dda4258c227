-- export_finemap: one chromosome of a finemap run as SegmentQTL's finemap_<C>.csv
-- (docs/methods.md#finemap-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : finemap_results (view).
-- Output: phenotype, variant, n_samples, n_variants, n_obs, median_n_obs, mean_d, sd_d,
--          frac_alt_gain, frac_ref_gain, frac_balanced, stability_score, mean_beta,
--          sign_consistency, lambda_selected, lambda_bic, beta_full, beta_full_raw, beta_cnlr,
--          effect_interpretation, chr; one row per (phenotype, coverage-kept variant), or one
--          row with an empty variant for a phenotype that could not be fitted; ordered by
--          phenotype order (quantification file) then variant order (genotype file).
--          Missing values are NULL (written as empty cells, as SegmentQTL writes NaN).
SELECT phenotype, variant, n_samples, n_variants, n_obs, median_n_obs, mean_d, sd_d,
       frac_alt_gain, frac_ref_gain, frac_balanced, stability_score, mean_beta,
       sign_consistency, lambda_selected, lambda_bic, beta_full, beta_full_raw, beta_cnlr,
       effect_interpretation, chr
FROM finemap_results
WHERE run_id = $run_id AND chr = $chr
ORDER BY phenotype_idx, variant_idx NULLS FIRST
