-- finemap_results (view): finemap_stats with names and annotations.
--
-- Reads : finemap_stats, runs, phenotypes, variants, result_status.
-- Output: one row per finemap run (phenotype, coverage-kept variant), or one row with
--          variant_idx NULL for a phenotype that could not be fitted: run_id, run_name, cohort,
--          chr, phenotype_idx, variant_idx, phenotype, variant, SegmentQTL's columns n_samples ..
--          effect_interpretation (docs/methods.md#descriptive-columns,
--          docs/methods.md#stability-selection, docs/methods.md#finemap-outputs; lambda_bic is a
--          copy of lambda_selected, as in its files), status (result_status name), message (the
--          error text of status 'failed'), pos, ref, alt, phenotype_start, phenotype_end,
--          distance.  Missing (NaN in SegmentQTL's files) = NULL.
-- Coordinates: finemap is cis only: the variant is on the row's chr.  1-based positions as
--          written in the input files; distance = variant pos - phenotype start (signed).

CREATE OR REPLACE VIEW finemap_results AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant,
       r.n_samples, r.n_variants, r.n_obs, r.median_n_obs, r.mean_d, r.sd_d,
       r.frac_alt_gain, r.frac_ref_gain, r.frac_balanced, r.stability_score, r.mean_beta,
       r.sign_consistency, r.lambda_selected, r.lambda_selected AS lambda_bic,
       r.beta_full, r.beta_full_raw, r.beta_cnlr, r.effect_interpretation,
       st.name AS status, r.message,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM finemap_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;
