-- significant_pairs (view): the significant variant-phenotype pairs of every 'segqtl signif'
-- request, as tensorQTL's get_significant_pairs (docs: README "Significant pairs").
--
-- Reads : signif_requests, signif_thresholds, nominal_results (view).
-- Design: a request (signif_requests, written by 'segqtl signif --perm-run A --nominal-run B
--          --fdr F' after checking that A and B analyse the same cohort, window and model)
--          stores, for each phenotype of perm run A with q-value <= F, its nominal threshold
--          (signif_thresholds: BetaPPF(p_t; beta_shape1, beta_shape2), p_t = A's adjusted-p
--          cut-off at F).  This view joins those thresholds with the pairs of all-variants
--          nominal run B, so 'SELECT * FROM significant_pairs WHERE signif_id = N' returns the
--          rows 'segqtl signif' printed for request N, and stays correct however often
--          'segqtl fdr' later recomputes A's q-values.
-- Output: one row per (request, pair of B with status tested and nominal_p <=
--          pval_nominal_threshold): signif_id, perm_run, nominal_run, fdr, cohort, chr,
--          phenotype_idx, variant_idx, phenotype, variant, pos, ref, alt, phenotype_start,
--          phenotype_end, distance, number_of_samples, beta_s, se_s, beta_d, se_d, t_stat_d,
--          pval_nominal (= B's nominal_p), pval_nominal_threshold, qvalue (A's, of the
--          phenotype).
-- Coordinates: as nominal_results (1-based positions as written; distance = pos - phenotype
--          start); phenotype_idx/variant_idx are rows of the runs' common cohort.

CREATE OR REPLACE VIEW significant_pairs AS
SELECT s.signif_id, s.perm_run, s.nominal_run, s.fdr, r.cohort, r.chr, r.phenotype_idx,
       r.variant_idx, r.phenotype, r.variant, r.pos, r.ref, r.alt, r.phenotype_start,
       r.phenotype_end, r.distance, r.number_of_samples, r.beta_s, r.se_s, r.beta_d, r.se_d,
       r.t_stat_d, r.nominal_p AS pval_nominal, t.pval_nominal_threshold, t.qvalue
FROM signif_requests AS s
JOIN signif_thresholds AS t USING (signif_id)
JOIN nominal_results AS r
  ON r.run_id = s.nominal_run AND r.chr = t.chr AND r.phenotype_idx = t.phenotype_idx
WHERE r.status = 'tested' AND r.nominal_p <= t.pval_nominal_threshold;
