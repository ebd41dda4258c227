-- export_tensorqtl_cis: a perm run as tensorQTL's <prefix>.cis_qtl.txt.gz (map_cis plus
-- calculate_qvalues; the column mapping is documented in segqtl/warehouse/export.py).
--
-- Inputs (parameters): $run_id (a perm run), $window (its cis window, bp), $method (its
--          perm_method: 'beta' or 'direct').
-- Reads : perm_results (view), pair_samples (view), qvalues (view), phenotypes, variants.
-- Output: phenotype_id, num_var, beta_shape1, beta_shape2, true_df, pval_true_df, variant_id,
--          start_distance, end_distance, pval_nominal, slope, slope_se, pval_perm, pval_beta,
--          qval, pval_nominal_threshold; one row per phenotype with a lead variant (phenotypes
--          without any testable variant have no row, as tensorQTL skips them), in the
--          quantification file's row order.  num_var = the variants in the phenotype's cis
--          window; true_df = the lead fit's residual degrees of freedom (number_of_samples -
--          n_model_columns), pval_true_df = the lead's nominal p (already at that df);
--          pval_perm is p_adj of direct runs, pval_beta p_adj of beta runs (the other NULL);
--          qval / pval_nominal_threshold NULL until q-values are computed.
-- Coordinates: positions 1-based as written in the input files; start_distance = variant pos -
--          phenotype start, end_distance = variant pos - phenotype end (no strand in the
--          inputs: the start column is used as given, as tensorQTL does without strand).
WITH lead AS (
    SELECT r.*, p.file_row
    FROM perm_results AS r
    JOIN phenotypes AS p
      ON p.cohort = r.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
    WHERE r.run_id = $run_id AND r.variant_idx IS NOT NULL
),
num_var AS (
    SELECT l.chr, l.phenotype_idx, count(v.variant_idx) AS num_var
    FROM lead AS l
    JOIN variants AS v
      ON v.cohort = l.cohort AND v.chr = l.chr
     AND v.pos BETWEEN l.phenotype_start - $window AND l.phenotype_end + $window
    GROUP BY l.chr, l.phenotype_idx
)
SELECT l.phenotype AS phenotype_id,
       n.num_var,
       l.beta_shape1,
       l.beta_shape2,
       s.number_of_samples - s.n_model_columns AS true_df,
       l.nominal_p AS pval_true_df,
       l.variant AS variant_id,
       l.pos - l.phenotype_start AS start_distance,
       l.pos - l.phenotype_end AS end_distance,
       l.nominal_p AS pval_nominal,
       l.beta_d AS slope,
       l.se_d AS slope_se,
       CASE WHEN $method = 'direct' THEN l.p_adj END AS pval_perm,
       CASE WHEN $method = 'beta' THEN l.p_adj END AS pval_beta,
       q.qvalue AS qval,
       q.pval_nominal_threshold
FROM lead AS l
JOIN num_var AS n USING (chr, phenotype_idx)
JOIN pair_samples AS s
  ON s.run_id = l.run_id AND s.chr = l.chr AND s.phenotype_idx = l.phenotype_idx
 AND s.variant_idx = l.variant_idx
LEFT JOIN qvalues AS q
  ON q.run_id = l.run_id AND q.chr = l.chr AND q.phenotype_idx = l.phenotype_idx
ORDER BY l.file_row
