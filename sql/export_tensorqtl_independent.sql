-- export_tensorqtl_independent: a conditional run as tensorQTL's
-- <prefix>.cis_independent_qtl.txt.gz (map_independent; the column mapping of
-- export_tensorqtl_cis.sql, documented in segqtl/warehouse/export.py, plus rank).
--
-- Inputs (parameters): $run_id (a conditional run), $window (its own --window; the perm run's,
--          kept as run parameter perm_run:window, takes precedence).
-- Reads : conditional_signals, conditional_stats, runs, run_parameters, phenotypes, variants,
--          covariates, cohorts.
-- Output: phenotype_id, num_var, beta_shape1, beta_shape2, true_df, pval_true_df, variant_id,
--          start_distance, end_distance, pval_nominal, slope, slope_se, pval_perm, pval_beta,
--          rank; one row per kept signal, each with the statistics of the scan that reports it
--          (its backward scan, or the forward one for a lone signal), in the quantification
--          file's row order then rank.  true_df = number_of_samples - the fit's columns
--          (intercept, s, d, the phenotype covariate if any, the sample covariates, and s and d
--          of each conditioning variant); pval_perm holds p_adj of direct runs, pval_beta of
--          beta runs.
-- Coordinates: as export_tensorqtl_cis.sql (start_distance = pos - phenotype start,
--          end_distance = pos - phenotype end, 1-based positions as written).
WITH run AS (
    SELECT u.run_id, u.cohort,
           coalesce((SELECT value::BIGINT FROM run_parameters
                     WHERE run_id = u.run_id AND key = 'perm_run:window'), $window) AS window,
           coalesce((SELECT json_extract_string(value, '$') FROM run_parameters
                     WHERE run_id = u.run_id AND key = 'perm_run:perm_method'),
                    (SELECT json_extract_string(value, '$') FROM run_parameters
                     WHERE run_id = u.run_id AND key = 'perm_method')) AS method,
           (SELECT count(*) FROM covariates AS c WHERE c.cohort = u.cohort) AS n_covariates,
           (SELECT has_phenotype_covariate FROM cohorts AS h WHERE h.cohort = u.cohort) AS pcov
    FROM runs AS u
    WHERE u.run_id = $run_id
),
signal AS (
    SELECT s.chr, s.phenotype_idx, s.rank, s.variant_idx, st.*  EXCLUDE (run_id, unit_id, chr,
           phenotype_idx, variant_idx),
           p.gene_id, p.start, p."end", p.file_row, v.variant_id, v.pos
    FROM conditional_signals AS s
    JOIN run AS r ON r.run_id = s.run_id
    JOIN conditional_stats AS st
      ON st.run_id = s.run_id AND st.chr = s.chr AND st.phenotype_idx = s.phenotype_idx
     AND st.round = coalesce(s.backward_round, s.forward_round)
    JOIN phenotypes AS p
      ON p.cohort = r.cohort AND p.chr = s.chr AND p.phenotype_idx = s.phenotype_idx
    JOIN variants AS v
      ON v.cohort = r.cohort AND v.chr = s.chr AND v.variant_idx = s.variant_idx
    WHERE s.run_id = $run_id AND s.kept
)
SELECT g.gene_id AS phenotype_id,
       (SELECT count(*) FROM variants AS w
        WHERE w.cohort = r.cohort AND w.chr = g.chr
          AND w.pos BETWEEN g.start - r.window AND g."end" + r.window) AS num_var,
       g.beta_shape1,
       g.beta_shape2,
       g.number_of_samples - (3 + r.n_covariates + r.pcov::INTEGER
                              + 2 * len(g.conditioned_on)) AS true_df,
       g.nominal_p AS pval_true_df,
       g.variant_id,
       g.pos - g.start AS start_distance,
       g.pos - g."end" AS end_distance,
       g.nominal_p AS pval_nominal,
       g.beta_d AS slope,
       g.se_d AS slope_se,
       CASE WHEN r.method = 'direct' THEN g.p_adj END AS pval_perm,
       CASE WHEN r.method = 'beta' THEN g.p_adj END AS pval_beta,
       g.rank
FROM signal AS g, run AS r
ORDER BY g.file_row, g.rank
